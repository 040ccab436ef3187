"""The generated snake_case helpers: up to date, complete, and calling the right method."""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from flask_tgwebhook import _methods
from flask_tgwebhook.client import Bot
from flask_tgwebhook.errors import NotFound, TelegramError
from flask_tgwebhook.testing import FakeTelegram

from .spec import load_spec

REPO = Path(__file__).resolve().parent.parent
SPEC: dict[str, Any] = load_spec()
TOKEN = "123456:TEST-fake-token-for-flask-tgwebhook"
# A value of the right shape for each scalar Bot API type; objects and arrays get {} and [].
DUMMIES: dict[str, Any] = {"Integer": 7, "String": "x", "Boolean": True, "Float": 1.5}


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "generate_methods", REPO / "scripts" / "generate_methods.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generator = _load_generator()


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram(token=TOKEN) as telegram:
        yield telegram


def _dummy(types: list[str]) -> Any:
    if types[0] in DUMMIES:
        return DUMMIES[types[0]]
    return [] if types[0].startswith("Array of") else {}


def test_the_committed_module_is_what_the_generator_writes() -> None:
    committed = Path(_methods.__file__).read_text(encoding="utf-8")
    assert generator.render(SPEC) == committed, (
        "flask_tgwebhook/_methods.py is out of date; run scripts/generate_methods.py."
    )


@pytest.mark.parametrize("name", sorted(SPEC["methods"]))
def test_every_method_has_a_typed_helper(name: str) -> None:
    method = SPEC["methods"][name]
    helper = getattr(_methods.BotMethods, generator.helper_name(name))
    assert helper.__doc__
    assert helper.__doc__.split()[:3] == method["description"][0].split()[:3]
    params = inspect.signature(helper).parameters
    required = [f for f in method.get("fields", []) if f["required"]]
    explicit = [p for p in params.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]
    assert [p.name for p in explicit] == [generator.argument_name(f["name"]) for f in required]
    assert [p.annotation for p in explicit] == [generator.python_type(f["types"]) for f in required]
    assert params["params"].kind is inspect.Parameter.VAR_KEYWORD


@pytest.mark.parametrize(
    ("types", "annotation"),
    [
        (["Integer"], "int"),
        (["String"], "str"),
        (["Boolean"], "bool"),
        (["Float"], "float"),
        (["Integer", "String"], "int | str"),
        (["InputFile", "String"], "Any"),
        (["Array of Integer"], "Any"),
        (["InlineKeyboardMarkup"], "Any"),
    ],
)
def test_python_types(types: list[str], annotation: str) -> None:
    assert generator.python_type(types) == annotation


@pytest.mark.parametrize(
    ("method", "helper"),
    [
        ("getMe", "get_me"),
        ("sendMessage", "send_message"),
        ("setMyDefaultAdministratorRights", "set_my_default_administrator_rights"),
        ("getURLInfo", "get_url_info"),
        ("close", "close_bot"),
        ("logOut", "log_out"),
    ],
)
def test_helper_names(method: str, helper: str) -> None:
    assert generator.helper_name(method) == helper


def test_every_helper_calls_its_method_with_its_required_params(telegram: FakeTelegram) -> None:
    methods = list(SPEC["methods"].values())
    with Bot(TOKEN, api_url=telegram.api_url) as bot:
        for method in methods:
            fields = [f for f in method.get("fields", []) if f["required"]]
            args = {generator.argument_name(f["name"]): _dummy(f["types"]) for f in fields}
            helper = getattr(bot, generator.helper_name(method["name"]))
            # The emulator may refuse dummy values; what was sent is what counts.
            with contextlib.suppress(TelegramError):
                helper(**args)
    calls = telegram.calls
    assert [c.method for c in calls] == [m["name"] for m in methods]
    for call, method in zip(calls, methods, strict=True):
        names = {f["name"] for f in method.get("fields", []) if f["required"]}
        assert names <= set(call.params) | set(call.files), method["name"]


def test_keyword_fields_and_awkward_descriptions(telegram: FakeTelegram) -> None:
    spec = {
        "version": "Bot API test",
        "methods": {
            "doThing": {
                "name": "doThing",
                "description": ['Quote """ and back\\slash "inside". Second sentence.'],
                "fields": [
                    {"name": "from", "types": ["Integer"], "required": True},
                    {"name": "lambda", "types": ["String"], "required": False},
                ],
            },
            "getNothing": {"name": "getNothing", "description": [], "fields": []},
        },
    }
    namespace: dict[str, Any] = {}
    exec(compile(generator.render(spec), "<generated>", "exec"), namespace)  # noqa: S102
    mixin = namespace["BotMethods"]
    assert mixin.do_thing.__doc__ == 'Quote """ and back\\slash "inside".'
    assert mixin.get_nothing.__doc__ == "Call the Bot API method getNothing."

    class TestBot(Bot, mixin):  # type: ignore[misc, valid-type]
        pass

    bot: Any = TestBot(TOKEN, api_url=telegram.api_url)
    # doThing is no Bot API method, so the emulator answers as Telegram does (Client::on_cmd:
    # 404 "Not Found: method not found"); the call still went out with its parameters.
    with bot, pytest.raises(NotFound, match="method not found"):
        bot.do_thing(from_=5, **{"lambda": "λ"})
    [call] = telegram.calls
    assert (call.method, call.params) == ("doThing", {"from": 5, "lambda": "λ"})
