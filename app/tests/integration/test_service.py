"""The running service over real HTTP: health, version, the items API."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.integration.conftest import Api, start_local_server


def test_health(api: Api, expected_version: str | None) -> None:
    response = api.get("/health")
    assert response.status_code == 200, f"/health answered {response.status_code}: {response.text}"
    body = response.json()
    assert body["status"] == "ok"
    assert set(body) >= {"status", "version", "slot", "env"}
    assert response.headers["X-Pipeline-Version"] == body["version"]
    if expected_version is not None:
        assert body["version"] == expected_version, (
            f"{api.base_url} serves version {body['version']!r}, expected {expected_version!r}"
        )


def test_version(api: Api, expected_version: str | None) -> None:
    response = api.get("/version")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.text == response.headers["X-Pipeline-Version"]
    if expected_version is not None:
        assert response.text == expected_version


def test_items_round_trip(api: Api) -> None:
    name = f"it-{uuid.uuid4().hex[:12]}"
    created = api.post("/api/items", json={"name": name, "quantity": 3})
    assert created.status_code == 201, f"POST answered {created.status_code}: {created.text}"
    item = created.json()
    assert item["name"] == name
    assert item["quantity"] == 3
    assert created.headers["Location"].endswith(f"/api/items/{item['id']}")

    fetched = api.get(f"/api/items/{item['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == item

    listed = api.get("/api/items")
    assert listed.status_code == 200
    assert item in listed.json()["items"]

    duplicate = api.post("/api/items", json={"name": name.upper()})
    assert duplicate.status_code == 409


def test_items_validation_and_not_found(api: Api) -> None:
    invalid = api.post("/api/items", json={"name": "", "quantity": -1})
    assert invalid.status_code == 400
    assert set(invalid.json()["fields"]) == {"name", "quantity"}

    not_json = api.post("/api/items", data="name=x", headers={"Content-Type": "text/plain"})
    assert not_json.status_code == 400

    missing = api.get("/api/items/2147483647")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    assert "X-Pipeline-Version" in missing.headers


@pytest.mark.local_server
def test_failure_switches_from_app_env_file(log_dir: Path, tmp_path: Path) -> None:
    env_file = tmp_path / "app.env"
    env_file.write_text("APP_FAIL_HEALTH=1\nAPP_BREAK_ITEMS=1\n", encoding="utf-8")
    server = start_local_server(log_dir, APP_ENV_FILE=str(env_file))
    broken = Api(server.base_url)
    try:
        assert broken.get("/health").status_code == 503
        assert broken.get("/api/items").status_code == 500
        assert broken.get("/version").status_code == 200
    finally:
        assert server.stop() == 0


@pytest.mark.local_server
def test_break_writes_switch_from_app_env_file(log_dir: Path, tmp_path: Path) -> None:
    env_file = tmp_path / "app.env"
    env_file.write_text("APP_BREAK_WRITES=1\n", encoding="utf-8")
    server = start_local_server(log_dir, APP_ENV_FILE=str(env_file))
    broken = Api(server.base_url)
    try:
        assert broken.get("/health").status_code == 200
        assert broken.get("/api/items").status_code == 200
        created = broken.post("/api/items", json={"name": "bolt"})
        assert created.status_code == 500
        assert created.json()["error"] == "internal_server_error"
    finally:
        assert server.stop() == 0


@pytest.mark.local_server
def test_sigterm_stops_the_server_cleanly(log_dir: Path) -> None:
    server = start_local_server(log_dir)
    assert Api(server.base_url).get("/health").status_code == 200
    assert server.stop() == 0
    output = server.output()
    assert "received SIGTERM, shutting down" in output
    assert output.rstrip().endswith("stopped"), output
