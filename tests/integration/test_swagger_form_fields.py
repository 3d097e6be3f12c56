"""Swagger UI's "Try it out" sends every field of the multipart form it shows; an empty one is absent."""

from __future__ import annotations

import io

from app.runtime import example_config


def test_empty_optional_fields_are_absent_values(client, load_config):
    load_config(example_config())
    response = client.post("/api/submissions", data={
        "job": "first_lines", "name": "", "priority": "", "cache": "", "email": "", "callback_url": "",
        "head_lines_lines": "", "input_data": (io.BytesIO(b"a\nb\n"), "a.txt")}, content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["priority"] == "normal"
    # An empty file part (a file field left unchosen) is an absent input: the usual "is required".
    missing = client.post("/api/submissions", data={"job": "first_lines", "input_data": (io.BytesIO(b""), "")},
                          content_type="multipart/form-data")
    assert missing.status_code == 400 and missing.get_json()["errors"] == {"input_data": ["is required"]}


def test_the_openapi_document_offers_the_bearer_token_to_every_operation(client):
    spec = client.get("/api/openapi.json").get_json()
    assert spec["security"] == [{"bearer": []}, {}]
