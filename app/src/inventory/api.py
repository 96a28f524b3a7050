"""The items API: ``GET``/``POST /api/items`` and ``GET /api/items/<id>``."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, jsonify, request, url_for

from inventory.store import DuplicateItemError, ItemStore, ValidationError, validate_new_item

items = Blueprint("items", __name__, url_prefix="/api/items")


def _store() -> ItemStore:
    store: ItemStore = current_app.extensions["inventory.store"]
    return store


@items.before_request
def _broken_switches() -> None:
    settings = current_app.config["SETTINGS"]
    if settings.break_items:
        abort(500, description="the items API is broken on purpose (APP_BREAK_ITEMS)")
    if settings.break_writes and request.method == "POST":
        abort(500, description="POST /api/items is broken on purpose (APP_BREAK_WRITES)")


@items.get("")
def list_items() -> dict[str, object]:
    """Every item, oldest first."""
    return {"items": [item.to_dict() for item in _store().list()]}


@items.post("")
def create_item() -> tuple[Response, int] | tuple[Response, int, dict[str, str]]:
    """Adds an item: 201 with it and its ``Location``; 400 when invalid; 409 name taken."""
    payload = request.get_json(silent=True)
    if payload is None:
        return (
            jsonify(
                error="bad_request",
                message="the body must be a JSON object sent as application/json",
            ),
            400,
        )
    try:
        name, quantity = validate_new_item(payload)
    except ValidationError as exc:
        return jsonify(error="validation_failed", message=str(exc), fields=exc.errors), 400
    try:
        item = _store().add(name, quantity)
    except DuplicateItemError as exc:
        return jsonify(error="conflict", message=str(exc), id=exc.existing.id), 409
    location = url_for("items.get_item", item_id=item.id)
    return jsonify(item.to_dict()), 201, {"Location": location}


@items.get("/<int:item_id>")
def get_item(item_id: int) -> dict[str, object]:
    """One item, or 404."""
    item = _store().get(item_id)
    if item is None:
        abort(404, description=f"no item with id {item_id}")
    return item.to_dict()
