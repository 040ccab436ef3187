"""Observers, first match, routers, error handlers, allowed_updates, frozen registration."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from flask_tgwebhook import Router, TelegramWebhook, Update
from flask_tgwebhook.dispatch import UNHANDLED, Failure, HandlerTable
from flask_tgwebhook.filters import Command, F
from flask_tgwebhook.testing.updates import make_update

from .conftest import PostUpdate


def run(router: Router, raw: dict[str, Any]) -> Any:
    return HandlerTable(router).dispatch(Update(raw))


def test_first_match_wins_in_registration_order() -> None:
    tg = TelegramWebhook()
    tg.message(commands=["start"])(lambda u: "start")
    tg.message(lambda u: "catch-all")  # a lambda is a plain function: the bare form
    tg.message(commands=["help"])(lambda u: "never reached")
    assert run(tg, make_update(text="/start")) == "start"
    assert run(tg, make_update(text="/help")) == "catch-all"


def test_bare_and_called_decorators_return_the_function() -> None:
    router = Router()

    @router.callback_query
    def bare(update: Update) -> str:
        return "bare"

    @router.callback_query(data="yes")
    def called(update: Update) -> str:
        return "called"

    assert bare(Update(make_update("callback_query"))) == "bare"
    assert called.__name__ == "called"
    assert run(router, make_update("callback_query", data="yes")) == "bare"


def test_positional_filter_objects_and_plain_callables() -> None:
    router = Router()
    router.message(Command("a"), lambda u: u.user is not None and u.user.id == 1)(
        lambda u: "a by 1"
    )
    router.message(Command("a"))(lambda u: "a")
    assert run(router, make_update(text="/a", user_id=1)) == "a by 1"
    assert run(router, make_update(text="/a", user_id=2)) == "a"


def test_nothing_matches() -> None:
    router = Router()
    router.message(commands=["x"])(lambda u: "x")
    assert run(router, make_update(text="/y")) is UNHANDLED
    assert run(router, make_update("poll")) is UNHANDLED


def test_routers_nest_and_own_handlers_come_first() -> None:
    root, child, grandchild = Router("root"), Router("child"), Router("grandchild")
    grandchild.message(commands=["deep"])(lambda u: "grandchild")
    child.message(commands=["deep", "mid"])(lambda u: "child")
    root.message(commands=["top"])(lambda u: "root")
    child.include_router(grandchild)
    root.include_router(child)
    assert run(root, make_update(text="/top")) == "root"
    assert run(root, make_update(text="/mid")) == "child"
    assert run(root, make_update(text="/deep")) == "child"
    assert [r.name for r in root.iter_routers()] == ["root", "child", "grandchild"]


def test_router_default_name_is_its_module() -> None:
    assert Router().name == __name__


def test_include_router_refuses_twice_and_cycles() -> None:
    a, b = Router("a"), Router("b")
    a.include_router(b)
    with pytest.raises(RuntimeError, match="already included in 'a'"):
        Router("c").include_router(b)
    with pytest.raises(RuntimeError, match="cycle"):
        b.include_router(a)
    with pytest.raises(TypeError, match="takes a Router"):
        a.include_router("b")  # type: ignore[arg-type]


def test_error_handlers_closest_router_first_then_parents() -> None:
    root, child = Router("root"), Router("child")
    child.message(commands=["key"])(lambda u: {"present": 1}["x"])
    child.message(commands=["zero"])(lambda u: 1 / 0)
    child.errorhandler(KeyError)(lambda e, u: "child handled KeyError")
    root.errorhandler(Exception)(lambda e, u: f"root handled {type(e).__name__}")
    root.include_router(child)
    table = HandlerTable(root)
    key = table.dispatch(Update(make_update(text="/key")))
    zero = table.dispatch(Update(make_update(text="/zero")))
    assert isinstance(key, Failure) and key.handled and key.value == "child handled KeyError"
    assert isinstance(zero, Failure) and zero.value == "root handled ZeroDivisionError"


def test_error_handler_matches_by_exception_hierarchy_and_bare_form() -> None:
    router = Router()
    router.message(lambda u: int("x"))

    @router.errorhandler
    def anything(exc: BaseException, update: Update) -> str:
        return "any"

    result = run(router, make_update(text="x"))
    assert isinstance(result, Failure) and result.handled and isinstance(result.error, ValueError)


def test_error_in_error_handler_is_a_failure_not_an_escape() -> None:
    router = Router()
    router.message(lambda u: 1 / 0)
    router.errorhandler(ZeroDivisionError)(lambda e, u: [][1])
    result = run(router, make_update(text="x"))
    assert isinstance(result, Failure) and not result.handled
    assert isinstance(result.error, IndexError)
    assert isinstance(result.error.__context__, ZeroDivisionError)


def test_filter_errors_go_to_error_handlers() -> None:
    router = Router()
    router.message(F(lambda u: u.nope.deeper))(lambda u: "never")  # AttributeError on None
    result = run(router, make_update(text="x"))
    assert isinstance(result, Failure) and isinstance(result.error, AttributeError)


def test_allowed_updates_from_registered_handlers() -> None:
    tg, extra = TelegramWebhook(), Router()
    assert tg.allowed_updates == []
    tg.callback_query(lambda u: None)
    tg.message(lambda u: None)
    extra.on("subscription")(lambda u: None)
    extra.chat_join_request(lambda u: None)
    tg.include_router(extra)
    assert tg.allowed_updates == ["message", "callback_query", "chat_join_request", "subscription"]


def test_bad_registrations_fail_at_decoration_time() -> None:
    router = Router()
    with pytest.raises(ValueError, match="not an update type"):
        router.on("update_id")
    with pytest.raises(TypeError, match="must be callable"):
        router.add_handler("message", "not a function")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Unknown handler filter"):
        router.message(comands=["typo"])
    with pytest.raises(TypeError, match="not an exception class"):
        router.register_error_handler(int, lambda e, u: None)  # type: ignore[type-var]


def test_registration_is_refused_once_serving_started(
    tg: TelegramWebhook, app: Flask, post_update: PostUpdate
) -> None:
    late = Router("late")
    tg.include_router(late)
    assert post_update(make_update(text="x")).status_code == 200
    for attempt in (
        lambda: tg.message(lambda u: None),
        lambda: late.on("message")(lambda u: None),
        lambda: tg.include_router(Router()),
        lambda: tg.errorhandler(Exception)(lambda e, u: None),
    ):
        with pytest.raises(RuntimeError, match="already handled its first update"):
            attempt()
