"""The operational endpoints: ``/health``, ``/version`` and the index."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, url_for

ops = Blueprint("ops", __name__)
_NO_STORE = {"Cache-Control": "no-store"}


@ops.get("/")
def index() -> dict[str, object]:
    """What this service is and where its endpoints are."""
    return {
        "service": "inventory",
        "version": current_app.config["SETTINGS"].version,
        "links": {
            "health": url_for("ops.health"),
            "version": url_for("ops.version"),
            "items": url_for("items.list_items"),
        },
    }


@ops.get("/health")
def health() -> tuple[dict[str, object], int, dict[str, str]]:
    """200 with the release's identity, or 503 when ``APP_FAIL_HEALTH`` is on."""
    settings = current_app.config["SETTINGS"]
    body: dict[str, object] = {
        "status": "failing" if settings.fail_health else "ok",
        "version": settings.version,
        "slot": settings.slot,
        "env": settings.env,
    }
    return body, 503 if settings.fail_health else 200, _NO_STORE


@ops.get("/version")
def version() -> Response:
    """The version alone, as text."""
    return Response(
        current_app.config["SETTINGS"].version, mimetype="text/plain", headers=_NO_STORE
    )
