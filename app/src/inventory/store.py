"""The domain: inventory items, their validation and an in-memory store."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

MAX_NAME_LENGTH = 100
MAX_QUANTITY = 1_000_000
_FIELDS = frozenset({"name", "quantity"})


@dataclass(frozen=True)
class Item:
    """One stocked item."""

    id: int  # pylint: disable=invalid-name  # the field is named as in the API
    name: str
    quantity: int

    def to_dict(self) -> dict[str, Any]:
        """The item as the API shows it."""
        return asdict(self)


class ValidationError(ValueError):
    """A new item's fields are invalid; ``errors`` maps each field to what is wrong."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {why}" for field, why in errors.items()))
        self.errors = errors


class DuplicateItemError(ValueError):
    """An item with that name exists already."""

    def __init__(self, existing: Item) -> None:
        super().__init__(f"an item named {existing.name!r} exists already (id {existing.id})")
        self.existing = existing


def validate_new_item(payload: Any) -> tuple[str, int]:
    """The ``(name, quantity)`` of a new item from a decoded JSON body, or ValidationError.

    ``name`` is required: a non-blank string of at most 100 characters,
    surrounding whitespace removed. ``quantity`` is an integer from 0 to
    1,000,000, 0 when absent. Other fields are refused.
    """
    if not isinstance(payload, dict):
        raise ValidationError({"body": "must be a JSON object"})
    errors: dict[str, str] = {}
    for field in sorted(set(payload) - _FIELDS):
        errors[field] = "unknown field"
    name = payload.get("name")
    if not isinstance(name, str) or not name.strip():
        errors["name"] = "required, a non-empty string"
    elif len(name.strip()) > MAX_NAME_LENGTH:
        errors["name"] = f"at most {MAX_NAME_LENGTH} characters"
    quantity = payload.get("quantity", 0)
    # bool is an int in Python, not in the API.
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        errors["quantity"] = "must be an integer"
    elif not 0 <= quantity <= MAX_QUANTITY:
        errors["quantity"] = f"must be between 0 and {MAX_QUANTITY}"
    if errors:
        raise ValidationError(errors)
    return name.strip(), quantity


class ItemStore:
    """Items in memory, safe to use from the server's worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[int, Item] = {}
        self._next_id = 1

    def list(self) -> list[Item]:
        """Every item, oldest first."""
        with self._lock:
            return list(self._items.values())

    def get(self, item_id: int) -> Item | None:
        """The item with that id, if any."""
        with self._lock:
            return self._items.get(item_id)

    def add(self, name: str, quantity: int) -> Item:
        """Stores a new item; names are unique regardless of case."""
        with self._lock:
            for existing in self._items.values():
                if existing.name.casefold() == name.casefold():
                    raise DuplicateItemError(existing)
            item = Item(id=self._next_id, name=name, quantity=quantity)
            self._items[item.id] = item
            self._next_id += 1
            return item
