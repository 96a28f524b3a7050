"""The in-memory store on its own, from many threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from inventory.store import DuplicateItemError, ItemStore, ValidationError, validate_new_item


def test_ids_are_unique_under_concurrency() -> None:
    store = ItemStore()
    with ThreadPoolExecutor(max_workers=8) as pool:
        created = list(pool.map(lambda n: store.add(f"item {n}", n), range(200)))
    assert sorted(item.id for item in created) == list(range(1, 201))
    assert len(store.list()) == 200


def test_duplicate_carries_the_existing_item() -> None:
    store = ItemStore()
    first = store.add("Gear", 1)
    with pytest.raises(DuplicateItemError) as caught:
        store.add("GEAR", 2)
    assert caught.value.existing == first
    assert store.get(first.id) == first
    assert store.get(99) is None


def test_validation_error_message_lists_fields() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_new_item({"quantity": -5})
    assert str(caught.value) == (
        "name: required, a non-empty string; quantity: must be between 0 and 1000000"
    )


def test_valid_item_is_normalised() -> None:
    assert validate_new_item({"name": " a ", "quantity": 0}) == ("a", 0)
    assert validate_new_item({"name": "b"}) == ("b", 0)
