"""The code a newcomer copies first (README and the quickstart page) runs as shown."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from flask_tgwebhook.testing import TelegramTestClient

ROOT = Path(__file__).resolve().parents[1]


def first_python_block(path: Path) -> str:
    text = path.read_text()
    if path.suffix == ".md":
        match = re.search(r"```python\n(.*?)```", text, re.S)
    else:
        match = re.search(r"\.\. code-block:: python\n\n((?:   .*\n|\n)+)", text)
    assert match, f"no python example in {path.name}"
    return textwrap.dedent(match.group(1))


@pytest.mark.parametrize("page", ["README.md", "docs/quickstart.rst"])
def test_the_first_example_runs_as_written(page: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # As the page says: the token is exported, not written into the code.
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:TEST-fake-token-for-flask-tgwebhook")
    namespace: dict[str, Any] = {"__name__": "copied_example"}
    exec(compile(first_python_block(ROOT / page), page, "exec"), namespace)  # noqa: S102
    answer = TelegramTestClient(namespace["app"]).message("/start", chat_id=11)
    assert answer.status == 200
    assert answer.reply == {"method": "sendMessage", "chat_id": 11, "text": "Hello!"}


@pytest.mark.parametrize("page", ["README.md", "docs/quickstart.rst"])
def test_the_first_example_takes_the_token_from_the_environment(page: str) -> None:
    # A token in app.config beats the environment: exporting the real one would do nothing.
    assert 'TELEGRAM_BOT_TOKEN"] =' not in first_python_block(ROOT / page)
