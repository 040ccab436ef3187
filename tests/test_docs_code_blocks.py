"""Every Python code block in the docs runs here, unless it is marked as a fragment
(``:class: fragment``: it continues an example and needs its context); a fragment must at
least compile. The quickstart's app holds its conversation with the emulator over HTTPS.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from flask_tgwebhook.testing import FakeTelegram, make_update
from flask_tgwebhook.testing.live import LiveServer, connect_webhook

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
BLOCK = re.compile(
    r"^(?P<indent> *)\.\. code-block:: python\n"
    r"(?P<options>(?:(?P=indent)   +:.*\n)*)\n"
    r"(?P<body>(?:(?P=indent)   +\S.*\n|[ \t]*\n)+)",
    re.M,
)
FAKE_TOKEN = "123456:TEST-fake-token-for-flask-tgwebhook"


def python_blocks() -> list[tuple[str, str, bool]]:
    """(``page:line``, code, is_fragment) for every ``code-block:: python`` in the docs."""
    found = []
    for page in sorted([*DOCS.glob("*.rst"), *DOCS.glob("*.inc")]):
        text = page.read_text()
        for match in BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            fragment = ":class: fragment" in match.group("options")
            found.append((f"{page.name}:{line}", textwrap.dedent(match.group("body")), fragment))
    return found


BLOCKS = python_blocks()


def test_the_docs_have_blocks_of_both_kinds() -> None:
    # The collector reads the pages: a pattern that stopped matching would pass everything.
    assert sum(not fragment for _, _, fragment in BLOCKS) >= 5
    assert sum(fragment for _, _, fragment in BLOCKS) >= 20
    assert any(where.startswith("quickstart.rst:") for where, _, _ in BLOCKS)


@pytest.mark.parametrize(
    ("where", "code"),
    [(where, code) for where, code, fragment in BLOCKS if not fragment],
    ids=[where for where, _, fragment in BLOCKS if not fragment],
)
def test_each_complete_block_runs(
    where: str, code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As the pages say: the token is exported; files a block writes land in a scratch folder.
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", FAKE_TOKEN)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "docs_block"}
    exec(compile(code, where, "exec"), namespace)  # noqa: S102 - the docs' own examples


@pytest.mark.parametrize(
    ("where", "code"),
    [(where, code) for where, code, fragment in BLOCKS if fragment],
    ids=[where for where, _, fragment in BLOCKS if fragment],
)
def test_each_fragment_compiles(where: str, code: str) -> None:
    compile(code, where, "exec")


def quickstart_code() -> str:
    (code,) = [c for where, c, f in BLOCKS if where.startswith("quickstart.rst:") and not f][:1]
    return code


@pytest.mark.slow
def test_the_quickstart_app_talks_with_the_emulator(
    fake_telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The page's app, configured the way the page says: everything from the environment.
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", fake_telegram.token)
    monkeypatch.setenv("TELEGRAM_API_URL", fake_telegram.api_url)
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", fake_telegram.bot_user["username"])
    namespace: dict[str, Any] = {"__name__": "quickstart"}
    exec(compile(quickstart_code(), "quickstart.rst", "exec"), namespace)  # noqa: S102
    app = namespace["app"]
    app.config["TESTING"] = True

    with LiveServer(app, https=True) as server:
        info = connect_webhook(app, server)
        assert info["url"] == server.webhook_url

        start = fake_telegram.deliver(make_update("message", text="/start", chat_id=5), wait=True)
        assert start.state == "delivered"
        assert start.reply is not None
        assert start.reply.method == "sendMessage"
        assert start.reply.params["text"] == "Hello!"
        assert start.reply.params["chat_id"] == 5

        echo = fake_telegram.deliver(make_update("message", text="what's up", chat_id=5), wait=True)
        assert echo.state == "delivered"
        # The /start answer rode in the webhook reply; the echo is the client's own call.
        calls = fake_telegram.wait_for_calls("sendMessage", count=2)
        assert [call.source for call in calls] == ["webhook_reply", "http"]
        sent = calls[1]
        assert sent.params["chat_id"] == 5
        assert sent.params["text"] == "what's up"
