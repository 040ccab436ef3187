"""Faults a test asks the emulator for: fail, answer late, or hang up, so many times."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

# What Telegram says for each error code when a test does not choose the words.
DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: chat not found",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; make sure that only one bot "
    "instance is running",
    429: "Too Many Requests: retry after {retry_after}",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


def default_description(error_code: int, parameters: dict[str, Any] | None) -> str:
    """Telegram's usual words for ``error_code``."""
    template = DEFAULT_DESCRIPTIONS.get(error_code, "Bad Request: error")
    return template.format(retry_after=(parameters or {}).get("retry_after", 1))


@dataclass
class Fault:
    """One injected fault and how many more calls it applies to."""

    kind: str  # "fail", "delay" or "disconnect"
    method: str  # lower-cased
    remaining: int | None  # None: until cleared
    error_code: int = 400
    description: str = ""
    parameters: dict[str, Any] | None = None
    seconds: float = 0.0


class FaultBook:
    """The faults still to apply, thread-safely."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, kind: str, method: str) -> Fault | None:
        """The first ``kind`` fault for ``method`` (lower-cased), counting one use of it."""
        with self._lock:
            for fault in self._faults:
                if fault.kind == kind and fault.method == method:
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining <= 0:
                            self._faults.remove(fault)
                    return fault
        return None
