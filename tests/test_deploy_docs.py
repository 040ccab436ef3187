"""The deploy docs show what the code makes: the nginx sites and Telegram's errors explained.

docs/examples/deploy/*.conf are ``flask tg nginx-config``'s output for the settings the docs
describe, and docs/troubleshooting-errors.inc is :data:`DELIVERY_ERRORS` as reST. When the
code changes, regenerate them: ``python -m tests.test_deploy_docs``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask

from flask_tgwebhook import TelegramWebhook
from flask_tgwebhook.delivery_errors import DELIVERY_ERRORS

DOCS = Path(__file__).resolve().parents[1] / "docs"
TOKEN = "123456:TEST-fake-token-for-flask-tgwebhook"

#: File → (webhook URL, extra nginx-config arguments), as docs/deploying.rst describes them.
SITES = {
    "nginx-site.conf": ("https://bot.example.com/telegram/webhook", []),
    "nginx-self-signed.conf": (
        "https://203.0.113.5:8443/telegram/webhook",
        ["--certificate", "/etc/mybot/cert.pem"],
    ),
}


def site(url: str, args: list[str]) -> str:
    app = Flask("docs")
    app.config.update(
        TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_WEBHOOK_URL=url, TELEGRAM_TRUSTED_PROXIES=1
    )
    TelegramWebhook(app)
    result = app.test_cli_runner().invoke(args=["tg", "nginx-config", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def errors_rst() -> str:
    lines = []
    for pattern, text in DELIVERY_ERRORS:
        shown = re.sub(r"\\d", "x", pattern).replace("\\", "").replace("|", "`` or ``")
        lines += [f"``{shown}``", "   " + text.replace("`", "``"), ""]
    return "\n".join(lines)


def generated() -> dict[Path, str]:
    files = {DOCS / "examples" / "deploy" / name: site(*how) for name, how in SITES.items()}
    files[DOCS / "troubleshooting-errors.inc"] = errors_rst()
    return files


@pytest.mark.parametrize("path", list(generated()), ids=lambda p: p.name)
def test_the_docs_show_what_the_code_makes(path: Path) -> None:
    assert path.read_text() == generated()[path], "run: python -m tests.test_deploy_docs"


if __name__ == "__main__":
    for path, text in generated().items():
        path.write_text(text)
        print(f"wrote {path}")
