"""Hooks around every update: a ban list, a per-update resource, and a reply counter."""

from __future__ import annotations

from typing import Any

from flask import Flask, g

from flask_tgwebhook import Router, TelegramWebhook, Update, reply

tg = TelegramWebhook()
admin = Router("admin")
BANNED = {666}
stats = {"replies": 0, "closed": 0}


@tg.before_update
def refuse_banned_users(update: Update) -> Any:
    if update.chat_id in BANNED:
        return reply("sendMessage", chat_id=update.chat_id, text="You are banned.")
    g.session = {"open": True}  # stands for a database session
    return None  # go on to the handler


@tg.after_update
def count_replies(update: Update, result: Any) -> None:
    if result is not None:
        stats["replies"] += 1


@tg.teardown_update
def close_session(update: Update, error: BaseException | None) -> None:
    if "session" in g:  # runs even when the handler raised
        g.session["open"] = False
        stats["closed"] += 1


@admin.before_update
def only_admins(update: Update) -> Any:
    if update.chat_id != 1:
        return reply("sendMessage", chat_id=update.chat_id, text="Admins only.")
    return None


@admin.message(commands=["ban"])
def ban(update: Update) -> Any:
    BANNED.add(int(update.args[0]))
    return reply("sendMessage", chat_id=update.chat_id, text="Banned.")


everyone = Router("everyone")


@everyone.message
def echo(update: Update) -> Any:
    return reply("sendMessage", chat_id=update.chat_id, text=update.text or "?")


tg.include_router(admin)  # first match wins: the admin commands, then the echo
tg.include_router(everyone)


def create_app(**config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update(config)  # TELEGRAM_BOT_TOKEN from here or the environment
    tg.init_app(app)
    return app
