"""The Bot API spec vendored in spec/telegram-bot-api/, which the spec tests check against."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SPEC_PATH = Path(__file__).resolve().parent.parent / "spec" / "telegram-bot-api" / "api.json"


def load_spec() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    return data
