"""before_update / after_update / teardown_update, on the extension and scoped to routers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from flask_tgwebhook import Router, TelegramWebhook, reply
from flask_tgwebhook.pipeline import Outcome, feed_update
from flask_tgwebhook.testing import TelegramTestClient, make_update

from .conftest import TOKEN, load_example


def make_app(tg: TelegramWebhook) -> Flask:
    app = Flask("hooks")
    app.config.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_BOT_USERNAME="b")
    tg.init_app(app)
    return app


def test_hooks_run_in_order_around_the_handler(tg: TelegramWebhook) -> None:
    order: list[str] = []
    tg.before_update(lambda u: order.append("before 1"))
    tg.before_update(lambda u: order.append("before 2"))

    @tg.message
    def handler(update: Any) -> str:
        order.append("handler")
        return "value"

    @tg.after_update
    def after(update: Any, result: Any) -> None:
        order.append(f"after {result}")

    @tg.teardown_update
    def teardown(update: Any, error: BaseException | None) -> None:
        order.append(f"teardown {error}")

    result = feed_update(make_app(tg), make_update("message", text="x"))
    assert result.outcome is Outcome.HANDLED and result.value == "value"
    assert order == ["before 1", "before 2", "handler", "after value", "teardown None"]


def test_before_update_returning_a_value_short_circuits(tg: TelegramWebhook) -> None:
    ran: list[str] = []

    @tg.before_update
    def banned(update: Any) -> Any:
        if update.chat_id == 666:
            return reply("sendMessage", chat_id=666, text="You are banned.")
        return None

    @tg.message
    def handler(update: Any) -> None:
        ran.append(update.text)

    app = make_app(tg)
    blocked = feed_update(app, make_update("message", text="a", chat_id=666, update_id=1))
    assert blocked.reply is not None and blocked.reply.params["text"] == "You are banned."
    assert feed_update(app, make_update("message", text="b", chat_id=1, update_id=2)).reply is None
    assert ran == ["b"]


def test_teardown_runs_after_an_exception_and_error_handlers_still_run(
    tg: TelegramWebhook,
) -> None:
    seen: list[Any] = []

    @tg.message
    def boom(update: Any) -> None:
        raise KeyError("lost")

    tg.after_update(lambda u, r: seen.append("after"))  # not run: the handler raised
    tg.teardown_update(lambda u, e: seen.append(e))

    @tg.errorhandler(KeyError)
    def on_key_error(exc: KeyError, update: Any) -> str:
        seen.append("error handler")
        return "recovered"

    result = feed_update(make_app(tg), make_update("message", text="x"))
    assert result.outcome is Outcome.FAILED
    assert result.value.value == "recovered"
    assert seen[0] == "error handler" and len(seen) == 2  # after_update did not run
    assert isinstance(seen[1], KeyError) and seen[1].args == ("lost",)


def test_a_raising_teardown_hook_is_logged_and_ignored(tg: TelegramWebhook, caplog: Any) -> None:
    tg.message(lambda u: "ok")

    @tg.teardown_update
    def broken(update: Any, error: BaseException | None) -> None:
        raise RuntimeError("teardown broke")

    result = feed_update(make_app(tg), make_update("message", text="x"))
    assert result.outcome is Outcome.HANDLED
    assert "teardown_update hook" in caplog.text and "teardown broke" in caplog.text


def test_router_hooks_are_scoped_like_blueprint_hooks(tg: TelegramWebhook) -> None:
    order: list[str] = []
    admin = Router("admin")
    admin.before_update(lambda u: order.append("admin before"))
    admin.after_update(lambda u, r: order.append("admin after"))
    admin.teardown_update(lambda u, e: order.append("admin teardown"))
    admin.message(commands=["ban"])(lambda u: order.append("ban"))
    tg.before_update(lambda u: order.append("tg before"))
    tg.after_update(lambda u, r: order.append("tg after"))
    tg.teardown_update(lambda u, e: order.append("tg teardown"))
    tg.include_router(admin)
    tg.message(text="hello")(lambda u: order.append("echo"))

    app = make_app(tg)
    feed_update(app, make_update("message", text="/ban", update_id=1))
    assert order == [
        "tg before",
        "admin before",
        "ban",
        "admin after",
        "tg after",
        "admin teardown",
        "tg teardown",
    ]
    order.clear()
    feed_update(app, make_update("message", text="hello", update_id=2))
    assert order == [
        "tg before",
        "echo",
        "tg after",
        "tg teardown",
    ]  # admin's hooks: not its update
    order.clear()
    feed_update(app, make_update("poll", update_id=3))  # no handler: the extension's hooks only
    assert order == ["tg before", "tg after", "tg teardown"]


def test_hooks_are_setup_methods(tg: TelegramWebhook) -> None:
    tg.message(lambda u: None)
    feed_update(make_app(tg), make_update("message", text="x"))
    try:
        tg.before_update(lambda u: None)
    except RuntimeError as exc:
        assert "can no longer be changed" in str(exc)
    else:
        raise AssertionError("registering a hook after the first update must fail")


def test_the_docs_hooks_example() -> None:
    hooks = load_example(
        Path(__file__).parent.parent / "docs" / "examples" / "hooks.py", "hooks_example"
    )
    client = TelegramTestClient(hooks.create_app(TELEGRAM_BOT_TOKEN=TOKEN))
    assert client.message("hi", chat_id=5).reply == {
        "method": "sendMessage",
        "chat_id": 5,
        "text": "hi",
    }
    assert text_of(client.message("/ban 5", chat_id=5).reply) == "Admins only."
    assert text_of(client.message("/ban 5", chat_id=1).reply) == "Banned."
    assert text_of(client.message("hi again", chat_id=5).reply) == "You are banned."
    # after_update sees short-circuited results too; the banned user's update opened no session.
    assert hooks.stats == {"replies": 4, "closed": 3}


def text_of(reply: Any) -> str:
    assert isinstance(reply, dict)
    text: str = reply["text"]
    return text
