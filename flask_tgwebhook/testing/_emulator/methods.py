"""Which method names the Bot API server knows; any other is "Not Found: method not found".

The names come from the client's generated helpers (one per method of the vendored spec),
so a new spec brings its methods here too; a test checks them against the spec itself.
"""

from __future__ import annotations

from ..._methods import BotMethods

# Client::on_cmd answers these before looking the method up: the Bot API's close and logOut
# (the client's helper for close is close_bot).
_SPECIAL = frozenset({"close", "logout"})
# Client::init_methods keeps serving a few old names the spec no longer lists, and two
# methods of its own.
_SERVER_EXTRAS = frozenset(
    {
        "kickchatmember",
        "getchatmemberscount",
        "setstickersetthumb",
        "answercustomquery",
        "sendcustomrequest",
    }
)


def _spec_methods() -> frozenset[str]:
    helpers = {
        name.replace("_", "")
        for name, value in vars(BotMethods).items()
        if callable(value) and not name.startswith("_") and name not in ("call", "close_bot")
    }
    return frozenset(helpers)


#: Every method name the emulator answers, lower-cased (Telegram ignores the case).
KNOWN_METHODS: frozenset[str] = _spec_methods() | _SPECIAL | _SERVER_EXTRAS
