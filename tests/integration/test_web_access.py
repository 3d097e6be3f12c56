"""The pages with AA_REQUIRE_API_KEY: they ask for a token, and a submission is shown only to its token."""

from __future__ import annotations

import io

import pytest

from app import create_app
from app.db import transaction
from app.runtime import example_config
from app.services import tokens


@pytest.fixture
def locked(database_url, sessions, load_config):
    load_config(example_config())
    return create_app({"database_url": database_url, "require_api_key": True}).test_client


def _token(sessions) -> str:
    with transaction(sessions) as session:
        return tokens.create(session, name="someone")


def _submit(client):
    return client.post("/jobs/count_words", data={"input_data": (io.BytesIO(b"one two"), "t.txt")},
                       content_type="multipart/form-data")


def test_pages_ask_for_a_token_and_keep_submissions_to_it(locked, sessions):
    browser = locked()
    assert "give yours" in browser.get("/jobs/count_words").get_data(as_text=True)
    refused = _submit(browser)
    assert refused.status_code == 401 and "Submitting needs an API token" in refused.get_data(as_text=True)

    mine = _token(sessions)
    assert browser.post("/token", data={"token": mine}).status_code == 303
    created = _submit(browser)
    assert created.status_code == 303
    page = created.headers["Location"]
    assert browser.get(page).status_code == 200

    # Another browser, with another token or none, does not see it, not even by its address.
    other = locked()
    assert other.get(page).status_code == 404
    assert other.get(f"{page}/status.json").status_code == 404
    other.post("/token", data={"token": _token(sessions)})
    assert other.get(page).status_code == 404
    assert page.rsplit("/", 1)[1] not in other.get("/submissions").get_data(as_text=True)

    # The same token in a fresh browser lists it among "my submissions".
    again = locked()
    again.post("/token", data={"token": mine})
    assert page.rsplit("/", 1)[1] in again.get("/submissions").get_data(as_text=True)
    # Forgetting the token forgets the access.
    again.post("/token", data={"token": ""})
    assert again.get(page).status_code == 404


def test_a_token_page_redirects_only_within_the_site(locked, sessions):
    browser = locked()
    response = browser.post("/token", data={"token": _token(sessions), "next": "//evil.example/"})
    assert response.headers["Location"] == "/"
