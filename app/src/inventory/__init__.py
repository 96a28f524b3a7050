"""Inventory: the sample service the pipeline tests, packages, deploys and validates.

``create_app()`` builds the Flask application; ``python -m inventory`` serves
it with waitress (see :mod:`inventory.server`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from inventory.api import items
from inventory.config import Settings
from inventory.ops import ops
from inventory.store import ItemStore

__all__ = ["create_app", "Settings"]

LOG = logging.getLogger(__name__)
VERSION_HEADER = "X-Pipeline-Version"


def create_app(
    settings: Settings | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    env_file: str | os.PathLike[str] | None = None,
) -> Flask:
    """The application.

    It is configured by ``settings``, else by ``Settings.load(environ, env_file)``.
    """
    if settings is None:
        settings = Settings.load(environ, env_file)
    app = Flask(__name__)
    app.config["SETTINGS"] = settings
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["inventory.store"] = ItemStore()
    app.register_blueprint(ops)
    app.register_blueprint(items)
    app.register_error_handler(HTTPException, _http_error)

    @app.after_request
    def stamp_version(response: Response) -> Response:
        response.headers[VERSION_HEADER] = settings.version
        return response

    if settings.fail_health:
        LOG.warning("APP_FAIL_HEALTH is on: /health answers 503")
    if settings.break_items:
        LOG.warning("APP_BREAK_ITEMS is on: /api/items answers 500")
    if settings.break_writes:
        LOG.warning("APP_BREAK_WRITES is on: POST /api/items answers 500")
    return app


def _http_error(error: HTTPException) -> tuple[Response, int]:
    """Every error as JSON: ``{"error": "not_found", "message": "..."}``.

    Unhandled exceptions arrive here as a 500 too, after Flask logged them.
    """
    code = error.code or 500
    name = (error.name or "error").lower().replace(" ", "_")
    return jsonify(error=name, message=error.description), code
