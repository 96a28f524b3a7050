"""Fixtures of the unit tests: apps built from an explicit environment, never the process's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from inventory import create_app

AppFactory = Callable[..., Flask]


@pytest.fixture(name="make_app")
def fixture_make_app(tmp_path: Path) -> AppFactory:
    """Builds an app whose environment is the keyword arguments and which has no app.env."""

    def factory(**environ: str) -> Flask:
        app = create_app(environ=environ, env_file=tmp_path / "no-app.env")
        app.testing = True
        return app

    return factory


@pytest.fixture(name="client")
def fixture_client(make_app: AppFactory) -> FlaskClient:
    """A test client of an app at version 1.2.3 in slot blue of env qa."""
    return make_app(PIPELINE_VERSION="1.2.3", PIPELINE_SLOT="blue", PIPELINE_ENV="qa").test_client()
