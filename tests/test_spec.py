"""The decorators cover every Update field of the vendored Bot API spec."""

from __future__ import annotations

from typing import Any

import pytest

from flask_tgwebhook import Router, TelegramWebhook
from flask_tgwebhook.dispatch import Observer
from flask_tgwebhook.update import UPDATE_TYPES

from .spec import load_spec


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return load_spec()


def update_fields(spec: dict[str, Any]) -> list[str]:
    return [f["name"] for f in spec["types"]["Update"]["fields"] if f["name"] != "update_id"]


def test_update_types_match_the_spec_in_order(spec: dict[str, Any]) -> None:
    assert list(UPDATE_TYPES) == update_fields(spec)


def test_one_decorator_per_update_field(spec: dict[str, Any]) -> None:
    observers = {name for name, value in vars(Router).items() if isinstance(value, Observer)}
    assert observers == set(update_fields(spec))
    tg = TelegramWebhook()
    for name in update_fields(spec):
        getattr(tg, name)(lambda u: None)
    assert tg.allowed_updates == update_fields(spec)
