"""Sending an external link to a user without Telegram calling it first.

Telegram fetches links in a message to build a preview, which would call the link before
the user does; every link sent here has previews off.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..client import Bot


def send_external_link(
    bot: Bot,
    chat_id: int | str,
    text: str,
    url: str,
    *,
    button: str | None = None,
    **params: Any,
) -> Any:
    """Send ``url`` to ``chat_id`` with link previews off, and return the sent Message.

    :param text: the message. Without ``button`` the link goes on a line of its own after
        it, so use plain text or ``parse_mode="HTML"`` (MarkdownV2 would need the link escaped).
    :param button: put the link in an inline keyboard button with this label instead; the
        text is then left as it is, in any parse mode.
    :param params: more sendMessage parameters (``parse_mode``, ``message_thread_id``, ...).
    """
    if button is not None:
        if "reply_markup" in params:
            raise ValueError("Pass button or reply_markup, not both: the button is the markup.")
        params["reply_markup"] = {"inline_keyboard": [[{"text": button, "url": url}]]}
    else:
        text = f"{text}\n{url}" if text else url
    params["link_preview_options"] = {"is_disabled": True}
    return bot.call("sendMessage", chat_id=chat_id, text=text, **params)
