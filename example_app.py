"""A small Telegram bot on Flask: /start, /app (a Web App), /stats, a button and an echo.

Run it offline (no token, no internet): ``python example_app.py`` starts a local Telegram
emulator, serves this app over HTTPS with a self-signed certificate, registers the webhook
and plays a short conversation through it, the Web App included.

With a real bot: set ``TELEGRAM_BOT_TOKEN`` and ``TELEGRAM_WEBHOOK_URL`` in the environment,
serve the app with gunicorn (``gunicorn "example_app:create_app()"``) behind nginx, and run
``flask --app example_app tg set-webhook`` and ``flask --app example_app tg set-commands`` once.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, url_for

from flask_tgwebhook import TelegramWebhook, Update, reply
from flask_tgwebhook.webapp import current_init_data, init_data_required

tg = TelegramWebhook()
webapp = Blueprint("webapp", __name__)

KEYBOARD = {
    "inline_keyboard": [
        [{"text": "👍 Yes", "callback_data": "yes"}, {"text": "👎 No", "callback_data": "no"}]
    ]
}
#: Counters kept in the extension's store, shared by every worker.
STATS_TTL = 365 * 86400


def count(name: str) -> int:
    return tg.state().store.incr(f"example:stats:{name}", STATS_TTL)


@tg.message(commands=["start"], description="Say hello")
def start(update: Update) -> Any:
    count("start")
    name = update.user.first_name if update.user else "there"
    return reply(
        "sendMessage",
        chat_id=update.chat_id,
        text=f"Hello, {name}! Do you like Flask?",
        reply_markup=KEYBOARD,
    )


@tg.message(commands=["help"], description="What this bot does")
def help_(update: Update) -> Any:
    text = "/start shows a button, /app opens a Web App, /stats counts; anything else I echo."
    return reply("sendMessage", chat_id=update.chat_id, text=text)


@tg.message(commands=["app"], description="Open the Web App")
def open_app(update: Update) -> Any:
    count("app")
    # A web_app button opens this page inside Telegram; Telegram needs an https URL.
    url = url_for("webapp.page", _external=True, _scheme="https")
    button = {"text": "Open the app", "web_app": {"url": url}}
    return reply(
        "sendMessage",
        chat_id=update.chat_id,
        text="Press the button to open the Web App.",
        reply_markup={"inline_keyboard": [[button]]},
    )


@tg.message(commands=["stats"], description="How often each command was used")
def stats(update: Update) -> Any:
    store = tg.state().store
    shown = {name: store.get(f"example:stats:{name}") or "0" for name in ("start", "app", "webapp")}
    text = f"/start: {shown['start']}, /app: {shown['app']}, Web App answers: {shown['webapp']}"
    return reply("sendMessage", chat_id=update.chat_id, text=text)


@tg.callback_query(data=["yes", "no"])
def answer_button(update: Update) -> Any:
    # Two calls: one through the client now, one in the webhook response.
    tg.bot.answer_callback_query(callback_query_id=update.payload["id"], text="Noted!")
    verdict = "Me too!" if update.data == "yes" else "Maybe Django then?"
    return reply("sendMessage", chat_id=update.chat_id, text=verdict)


@tg.message(content_type="text")
def echo(update: Update) -> Any:
    return reply("sendMessage", chat_id=update.chat_id, text=update.text)


PAGE = """<!doctype html>
<html><head><meta name="viewport" content="width=device-width, initial-scale=1">
<script src="https://telegram.org/js/telegram-web-app.js"></script></head>
<body><button id="send">Say hello in the chat</button>
<script>
document.getElementById("send").onclick = async () => {
  const answer = await fetch("ANSWER_URL", {
    method: "POST", headers: {"Authorization": "tma " + Telegram.WebApp.initData}});
  if (answer.ok) { Telegram.WebApp.close(); } else { alert((await answer.json()).description); }
};
</script></body></html>"""


@webapp.get("/app")
def page() -> str:
    """The Web App itself: a page Telegram shows; it proves who opened it with initData."""
    return PAGE.replace("ANSWER_URL", url_for("webapp.answer"))


@webapp.post("/app/answer")
@init_data_required
def answer() -> dict[str, Any]:
    """Called by the page: the initData was checked (401 otherwise), so the user is real."""
    data = current_init_data()
    name = data.user.get("first_name", "someone") if data.user else "someone"
    count("webapp")
    if data.query_id:  # present when the app was opened from an inline button
        tg.bot.answer_web_app_query(
            web_app_query_id=data.query_id,
            result={
                "type": "article",
                "id": "hello",
                "title": "Hello",
                "input_message_content": {"message_text": f"{name} says hello from the Web App"},
            },
        )
    return {"ok": True}


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The app factory. ``TELEGRAM_BOT_TOKEN`` and ``TELEGRAM_WEBHOOK_URL`` may also come
    from the environment."""
    app = Flask(__name__)
    app.config.update(config or {})
    tg.init_app(app)
    app.register_blueprint(webapp)
    return app


if __name__ == "__main__":
    from flask_tgwebhook.testing.demo import main

    main(
        create_app,
        conversation=[
            "/start",
            ("button", "yes"),
            "/app",
            ("webapp", "/app/answer"),
            "/stats",
            "Hello, bot!",
        ],
    )
