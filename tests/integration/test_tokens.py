"""Tokens: `aa token create/list/revoke`, expiry, last use, and a token's own submissions."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from app import create_app
from app.cli import main
from app.db import transaction
from tests.receivers import HELLO as CONFIG


@pytest.fixture
def aa(database_url, sessions, monkeypatch):
    """Run an `aa` command against the test database; its output."""
    monkeypatch.setenv("DATABASE_URL", database_url)

    def run(*args: str, ok: bool = True) -> str:
        result = CliRunner().invoke(main, list(args), catch_exceptions=False)
        assert (result.exit_code == 0) == ok, result.output
        return result.output

    return run


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_tokens_are_created_listed_and_revoked_and_their_secret_never_shown_again(aa, client, sessions):
    admin = aa("token", "create", "--admin", "--name", "ops").strip()
    user = aa("token", "create", "--name", "alice", "--expires", "30").strip()
    assert admin.startswith("aa_") and user.startswith("aa_") and admin != user
    assert client.get("/api/submissions", headers=_bearer(admin)).status_code == 200

    listing = aa("token", "list")
    assert "ops" in listing and "alice" in listing and "admin" in listing and "user" in listing
    assert admin not in listing and user not in listing  # only prefixes
    assert admin[:10] + "…" in listing and user[:10] + "…" in listing
    with transaction(sessions) as session:
        rows = {r.name: r for r in session.execute(text("SELECT * FROM api_tokens"))}
    assert rows["ops"].last_used is not None and rows["alice"].last_used is None
    assert rows["alice"].expires is not None and rows["ops"].expires is None

    assert "revoked token" in aa("token", "revoke", admin[:10])
    response = client.get("/api/submissions", headers=_bearer(admin))
    assert response.status_code == 401 and "revoked" in response.get_json()["message"]
    assert "No active token" in aa("token", "revoke", admin[:10], ok=False)
    assert "at least 6 characters" in aa("token", "revoke", "aa_", ok=False)
    assert "Invalid value for '--expires'" in aa("token", "create", "--expires", "0", ok=False)


def test_an_expired_token_is_refused(aa, client, sessions):
    token = aa("token", "create", "--admin", "--expires", "1").strip()
    assert client.get("/api/submissions", headers=_bearer(token)).status_code == 200
    with transaction(sessions) as session:
        session.execute(text("UPDATE api_tokens SET expires = now() - interval '1 second'"))
    assert client.get("/api/submissions", headers=_bearer(token)).status_code == 401


def test_with_required_keys_a_token_lists_its_own_submissions_and_an_admin_all(
        aa, database_url, load_config, sessions):
    load_config(CONFIG)
    client = create_app({"database_url": database_url, "require_api_key": True}).test_client()
    alice, bob = aa("token", "create").strip(), aa("token", "create").strip()
    admin = aa("token", "create", "--admin").strip()
    made = {}
    for name, token in (("alice", alice), ("bob", bob), ("alice", alice)):
        response = client.post("/api/submissions", json={"job": "hello", "name": name}, headers=_bearer(token))
        assert response.status_code == 201, response.get_json()
        made.setdefault(name, set()).add(response.get_json()["id"])

    def listed(token: str) -> set:
        response = client.get("/api/submissions", headers=_bearer(token))
        assert response.status_code == 200, response.get_json()
        return {s["id"] for s in response.get_json()}

    assert listed(alice) == made["alice"] and listed(bob) == made["bob"]
    assert listed(admin) == made["alice"] | made["bob"]
    assert client.get("/api/submissions").status_code == 401
    [first] = client.get("/api/submissions", headers=_bearer(bob)).get_json()
    assert first["priority"] == "normal"  # priority is shown in the list too
