"""The items API through the Flask test client."""

from __future__ import annotations

import logging

import pytest
from flask.testing import FlaskClient

from tests.unit.conftest import AppFactory


def test_list_starts_empty(client: FlaskClient) -> None:
    response = client.get("/api/items")
    assert response.status_code == 200
    assert response.get_json() == {"items": []}


def test_create_then_get_and_list(client: FlaskClient) -> None:
    created = client.post("/api/items", json={"name": "  bolt M6 ", "quantity": 40})
    assert created.status_code == 201
    assert created.get_json() == {"id": 1, "name": "bolt M6", "quantity": 40}
    assert created.headers["Location"] == "/api/items/1"

    fetched = client.get(created.headers["Location"])
    assert fetched.status_code == 200
    assert fetched.get_json() == created.get_json()

    client.post("/api/items", json={"name": "nut M6"})
    listed = client.get("/api/items").get_json()["items"]
    assert listed == [
        {"id": 1, "name": "bolt M6", "quantity": 40},
        {"id": 2, "name": "nut M6", "quantity": 0},
    ]


def test_missing_item_is_404_json(client: FlaskClient) -> None:
    response = client.get("/api/items/42")
    assert response.status_code == 404
    assert response.get_json() == {"error": "not_found", "message": "no item with id 42"}
    assert response.headers["X-Pipeline-Version"] == "1.2.3"


def test_non_numeric_id_is_404(client: FlaskClient) -> None:
    assert client.get("/api/items/abc").status_code == 404


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({}, {"name": "required, a non-empty string"}),
        ({"name": "   "}, {"name": "required, a non-empty string"}),
        ({"name": 7}, {"name": "required, a non-empty string"}),
        ({"name": "x" * 101}, {"name": "at most 100 characters"}),
        ({"name": "a", "quantity": "3"}, {"quantity": "must be an integer"}),
        ({"name": "a", "quantity": 2.5}, {"quantity": "must be an integer"}),
        ({"name": "a", "quantity": True}, {"quantity": "must be an integer"}),
        ({"name": "a", "quantity": -1}, {"quantity": "must be between 0 and 1000000"}),
        ({"name": "a", "quantity": 1_000_001}, {"quantity": "must be between 0 and 1000000"}),
        (
            {"name": "a", "colour": "red", "price": 3},
            {"colour": "unknown field", "price": "unknown field"},
        ),
        (["name", "a"], {"body": "must be a JSON object"}),
    ],
)
def test_invalid_item_is_400_with_fields(
    client: FlaskClient, payload: object, fields: dict[str, str]
) -> None:
    response = client.post("/api/items", json=payload)
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "validation_failed"
    assert body["fields"] == fields
    assert client.get("/api/items").get_json() == {"items": []}


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ("{not json", "application/json"),
        ('{"name": "a"}', "text/plain"),
        ("null", "application/json"),
        ("", "application/json"),
    ],
)
def test_body_that_is_not_json_is_400(client: FlaskClient, data: str, content_type: str) -> None:
    response = client.post("/api/items", data=data, content_type=content_type)
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_request"


def test_duplicate_name_is_409(client: FlaskClient) -> None:
    assert client.post("/api/items", json={"name": "Washer"}).status_code == 201
    response = client.post("/api/items", json={"name": "washer", "quantity": 3})
    assert response.status_code == 409
    assert response.get_json() == {
        "error": "conflict",
        "message": "an item named 'Washer' exists already (id 1)",
        "id": 1,
    }


def test_method_not_allowed_is_json(client: FlaskClient) -> None:
    response = client.delete("/api/items")
    assert response.status_code == 405
    assert response.get_json()["error"] == "method_not_allowed"


def test_break_items_switch_makes_every_items_route_500(make_app: AppFactory) -> None:
    client = make_app(APP_BREAK_ITEMS="1", PIPELINE_VERSION="9.9.9").test_client()
    for response in (
        client.get("/api/items"),
        client.post("/api/items", json={"name": "a"}),
        client.get("/api/items/1"),
    ):
        assert response.status_code == 500
        assert response.get_json() == {
            "error": "internal_server_error",
            "message": "the items API is broken on purpose (APP_BREAK_ITEMS)",
        }
        assert response.headers["X-Pipeline-Version"] == "9.9.9"
    assert client.get("/health").status_code == 200


@pytest.mark.parametrize("value", ["1", "true", "YES", " on "])
def test_break_writes_switch_makes_post_500_and_keeps_reads(
    make_app: AppFactory, value: str
) -> None:
    client = make_app(APP_BREAK_WRITES=value, PIPELINE_VERSION="9.9.9").test_client()
    response = client.post("/api/items", json={"name": "bolt", "quantity": 4})
    assert response.status_code == 500
    assert response.get_json() == {
        "error": "internal_server_error",
        "message": "POST /api/items is broken on purpose (APP_BREAK_WRITES)",
    }
    assert response.headers["X-Pipeline-Version"] == "9.9.9"
    # Refused before validation: an invalid body gets the same 500, not a 400.
    assert client.post("/api/items", data="not json").status_code == 500

    listed = client.get("/api/items")
    assert listed.status_code == 200
    assert listed.get_json() == {"items": []}
    assert client.get("/api/items/1").status_code == 404
    assert client.get("/health").status_code == 200
    assert client.get("/version").status_code == 200


@pytest.mark.parametrize("value", ["0", "false", "", "no"])
def test_break_writes_switch_off_values(make_app: AppFactory, value: str) -> None:
    client = make_app(APP_BREAK_WRITES=value).test_client()
    assert client.post("/api/items", json={"name": "bolt"}).status_code == 201


def test_break_writes_switch_is_logged(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="inventory"):
        make_app(APP_BREAK_WRITES="1")
    assert [record.getMessage() for record in caplog.records] == [
        "APP_BREAK_WRITES is on: POST /api/items answers 500"
    ]


def test_unhandled_exception_is_500_json_with_header(make_app: AppFactory) -> None:
    app = make_app(PIPELINE_VERSION="3.0.0")
    app.testing = False  # let Flask handle the exception as in production

    def explode() -> str:
        raise RuntimeError("boom")

    app.add_url_rule("/explode", view_func=explode)
    response = app.test_client().get("/explode")
    assert response.status_code == 500
    assert response.get_json()["error"] == "internal_server_error"
    assert "boom" not in response.get_data(as_text=True)
    assert response.headers["X-Pipeline-Version"] == "3.0.0"
