"""/health, /version, the index and the version header."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from inventory import Settings, create_app
from tests.unit.conftest import AppFactory


def test_health_reports_version_slot_and_env(client: FlaskClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "version": "1.2.3", "slot": "blue", "env": "qa"}
    assert response.headers["X-Pipeline-Version"] == "1.2.3"
    assert response.headers["Cache-Control"] == "no-store"


def test_health_defaults_without_environment(make_app: AppFactory) -> None:
    response = make_app().test_client().get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "version": "dev", "slot": None, "env": None}
    assert response.headers["X-Pipeline-Version"] == "dev"


def test_blank_version_means_dev(make_app: AppFactory) -> None:
    response = make_app(PIPELINE_VERSION="  ").test_client().get("/version")
    assert response.get_data(as_text=True) == "dev"


def test_version_is_plain_text(client: FlaskClient) -> None:
    response = client.get("/version")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert response.get_data(as_text=True) == "1.2.3"
    assert response.headers["X-Pipeline-Version"] == "1.2.3"


@pytest.mark.parametrize("value", ["1", "true", "YES", " on "])
def test_fail_health_switch_gives_503(make_app: AppFactory, value: str) -> None:
    client = make_app(APP_FAIL_HEALTH=value, PIPELINE_VERSION="2.0.0").test_client()
    response = client.get("/health")
    assert response.status_code == 503
    assert response.get_json()["status"] == "failing"
    assert response.get_json()["version"] == "2.0.0"
    assert response.headers["X-Pipeline-Version"] == "2.0.0"
    assert client.get("/api/items").status_code == 200


@pytest.mark.parametrize("value", ["0", "false", "", "no", "2"])
def test_fail_health_switch_off_values(make_app: AppFactory, value: str) -> None:
    response = make_app(APP_FAIL_HEALTH=value).test_client().get("/health")
    assert response.status_code == 200


def test_index_links(client: FlaskClient) -> None:
    body = client.get("/").get_json()
    assert body == {
        "service": "inventory",
        "version": "1.2.3",
        "links": {"health": "/health", "version": "/version", "items": "/api/items"},
    }


def test_unknown_path_is_404_with_header(client: FlaskClient) -> None:
    response = client.get("/nope")
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"
    assert response.headers["X-Pipeline-Version"] == "1.2.3"


def test_app_from_explicit_settings() -> None:
    app = create_app(Settings(version="4.5.6", env="prod"))
    body = app.test_client().get("/health").get_json()
    assert body == {"status": "ok", "version": "4.5.6", "slot": None, "env": "prod"}
