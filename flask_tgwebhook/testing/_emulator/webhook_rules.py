"""setWebhook's rules and words, as tdlib/telegram-bot-api applies them.

The order matters and follows the real server: the URL must parse, then the secret token and
the certificate size are checked (``Bad Request: ...``), then the webhook itself is started,
and what it refuses reads ``Bad Request: bad webhook: ...`` (https only, four ports, no
reserved address). A local Bot API server skips the last group; ``allow_http`` and
``allow_loopback`` are the emulator's two halves of that switch.
"""

from __future__ import annotations

import ipaddress
import os
import re
import ssl
import tempfile
from dataclasses import dataclass
from typing import Any

from ...update import UPDATE_TYPES
from .results import parse_json_param

#: setWebhook's default max_connections, and the clamp Telegram applies (it never refuses).
DEFAULT_MAX_CONNECTIONS = 40
MAX_CONNECTIONS_RANGE = (1, 100)
#: The largest certificate file Telegram takes.
MAX_CERTIFICATE_FILE_SIZE = 3 << 20
#: Ports a non-local Bot API server delivers to.
WEBHOOK_PORTS = (443, 80, 88, 8443)
#: Client.h enum UpdateType: the order getWebhookInfo lists allowed_updates in (types the
#: spec has and this list lacks follow in the spec's order).
SERVER_UPDATE_ORDER: tuple[str, ...] = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
    "message_reaction",
    "message_reaction_count",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "purchased_paid_media",
    "managed_bot",
    "guest_message",
)
SERVER_UPDATE_ORDER += tuple(kind for kind in UPDATE_TYPES if kind not in SERVER_UPDATE_ORDER)
#: What Telegram sends when allowed_updates was never given: all but these three.
DEFAULT_ALLOWED_UPDATES = frozenset(UPDATE_TYPES) - {
    "chat_member",
    "message_reaction",
    "message_reaction_count",
}

_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
# td's IPAddress::is_reserved: the IPv4 blocks a webhook may not point to.
_RESERVED_V4 = tuple(
    ipaddress.IPv4Network(block)
    for block in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/3",
    )
)


class WebhookRefused(Exception):
    """setWebhook fails with HTTP 400 and Telegram's ``description``."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


@dataclass(frozen=True)
class WebhookUrl:
    """A webhook URL the way td's ``parse_url`` splits it.

    :param target: the request target: the path and query, characters up to space
        percent-encoded, trailing white space cut, ``/`` when empty.
    """

    scheme: str
    host: str
    port: int
    userinfo: str = ""
    target: str = "/"
    specified_port: int = 0

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.specified_port}" if self.specified_port else host


@dataclass(frozen=True)
class WebhookConfig:
    """A webhook that setWebhook accepted."""

    url: str
    parsed: WebhookUrl
    secret_token: str
    max_connections: int
    certificate: bytes | None
    ip_address: str


# td/utils/HttpUrl.cpp parse_url: the characters a host or userinfo may hold besides
# letters, digits, %XX and any non-ASCII byte (userinfo may also hold ":").
_URL_PART_SAFE = frozenset(".-_!$,~*'();&+=")


def _url_part_ok(part: str, allow_colon: bool) -> bool:
    i = 0
    while i < len(part):
        char = part[i]
        safe = char.isascii() and (char.isalnum() or char in _URL_PART_SAFE)
        if safe or (allow_colon and char == ":") or not char.isascii():
            i += 1  # letters, digits, the safe marks, and any UTF-8 character
        elif char == "%":
            if not re.fullmatch(r"[0-9A-Fa-f]{2}", part[i + 1 : i + 3]):
                return False
            i += 3
        else:
            return False
    return True


def _percent_encode_controls(query: str) -> str:
    return "".join(f"%{ord(ch):02X}" if ord(ch) <= 0x20 else ch for ch in query)


def parse_webhook_url(url: str) -> WebhookUrl | None:
    """Split ``url`` like td's ``parse_url`` (https when no scheme); None when it does not parse.

    Follows td/utils/HttpUrl.cpp parse_url: the port is what follows the last ``:`` of the
    authority (an empty or zero port is wrong: ``https://host:/`` is refused), the host keeps
    a restricted character set, and the path is taken as it is, white space at its end cut
    and the rest percent-encoded, so ``https://host/my hook\n`` is a valid webhook.
    """
    head = re.match(r"[^:/?#@\[\]]*", url)
    protocol = head.group() if head else ""
    if url[len(protocol) : len(protocol) + 3] == "://":
        scheme, rest = protocol.lower(), url[len(protocol) + 3 :]
        if scheme not in ("http", "https"):
            return None
    else:
        scheme, rest = "https", url
    authority = re.match(r"[^/?#]*", rest)
    userinfo_host_port = authority.group() if authority else ""
    query = rest[len(userinfo_host_port) :]
    cut = max(userinfo_host_port.rfind(c) for c in ":]@")
    port = 0
    userinfo_host = userinfo_host_port
    if cut > 0 and userinfo_host_port[cut] == ":":
        port_text = userinfo_host_port[cut + 1 :].lstrip("0") or (
            "0" if userinfo_host_port[cut + 1 :] else ""
        )
        if not port_text.isdigit() or not 0 < int(port_text) <= 65535:
            return None
        port = int(port_text)
        userinfo_host = userinfo_host_port[:cut]
    userinfo, _, host = userinfo_host.rpartition("@")
    is_ipv6 = host.startswith("[") and host.endswith("]") and len(host) > 1
    if is_ipv6:
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return None
    if not host or host == ".":
        return None
    host = host.lower()
    if not is_ipv6 and not (_url_part_ok(host, False) and _url_part_ok(userinfo, True)):
        return None
    query = query.rstrip(" \t\n\v\f\r") or "/"
    target = _percent_encode_controls(query if query.startswith("/") else "/" + query)
    default_port = 443 if scheme == "https" else 80
    return WebhookUrl(
        scheme,
        host[1:-1] if is_ipv6 else host,
        port or default_port,
        userinfo,
        target,
        port,
    )


def to_bool(value: Any) -> bool:
    """A Bot API boolean parameter, from JSON or from a form's text."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "yes")


def clamp_max_connections(value: Any) -> int:
    """max_connections as Telegram reads it: leading digits, clamped to 1-100, 40 if absent."""
    text = "" if value is None else str(value).strip()
    if not text:
        return DEFAULT_MAX_CONNECTIONS
    match = re.match(r"-?\d+", text)
    number = int(match.group()) if match else 0
    low, high = MAX_CONNECTIONS_RANGE
    return max(low, min(high, number))


def parse_allowed_updates(value: Any) -> frozenset[str] | None:
    """allowed_updates as Telegram reads it; None means "keep the previous setting".

    A JSON list of strings sets them (case ignored, unknown names skipped, an empty list means
    the default); anything that is not such a list is ignored, as Telegram ignores it.
    """
    if value is None or value == "":
        return None
    value = parse_json_param(value)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return None
    chosen = frozenset(item.lower() for item in value) & frozenset(UPDATE_TYPES)
    return chosen or DEFAULT_ALLOWED_UPDATES


def check_set_webhook(
    params: dict[str, Any],
    files: dict[str, bytes],
    *,
    allow_loopback: bool,
    allow_http: bool,
) -> WebhookConfig:
    """The webhook a non-empty setWebhook asks for, or :class:`WebhookRefused`."""
    url = str(params.get("url", ""))
    parsed = parse_webhook_url(url)
    if parsed is None:
        raise WebhookRefused("Bad Request: invalid webhook URL specified")
    secret = str(params.get("secret_token") or "")
    if len(secret) > 256:
        raise WebhookRefused("Bad Request: secret token is too long")
    if not _BASE64URL.fullmatch(secret):
        raise WebhookRefused("Bad Request: secret token contains unallowed characters")
    certificate = _certificate(params, files)
    if certificate is not None and len(certificate) > MAX_CERTIFICATE_FILE_SIZE:
        raise WebhookRefused(f"Bad Request: certificate size is too big ({len(certificate)} bytes)")
    problem = _webhook_problem(parsed, params, certificate, allow_loopback, allow_http)
    if problem:
        raise WebhookRefused(f"Bad Request: bad webhook: {problem}")
    return WebhookConfig(
        url=url,
        parsed=parsed,
        secret_token=secret,
        max_connections=clamp_max_connections(params.get("max_connections")),
        certificate=certificate,
        ip_address=str(params.get("ip_address") or ""),
    )


def _certificate(params: dict[str, Any], files: dict[str, bytes]) -> bytes | None:
    if "certificate" in files:
        return files["certificate"]
    attached = str(params.get("certificate") or "")
    if attached.startswith("attach://"):
        return files.get(attached.removeprefix("attach://"))
    return None


def _webhook_problem(
    url: WebhookUrl,
    params: dict[str, Any],
    certificate: bytes | None,
    allow_loopback: bool,
    allow_http: bool,
) -> str | None:
    """What the webhook refuses on start, in Telegram's words (after ``bad webhook: ``)."""
    if not allow_http:
        if url.scheme == "http":
            return "An HTTPS URL must be provided for webhook"
        if url.port not in WEBHOOK_PORTS:
            return "Webhook can be set up only on ports 80, 88, 443 or 8443"
    fixed_ip = str(params.get("ip_address") or "")
    address = fixed_ip or host_address(url.host)
    if address is not None:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return "Invalid IP address specified"
        if not allow_loopback:
            if ip.version == 6:
                return "IPv6-only addresses are not allowed"
            if any(ip in block for block in _RESERVED_V4):
                return f"IP address {ip} is reserved"
    if certificate is not None:
        return certificate_problem(certificate)
    return None


def host_address(host: str) -> str | None:
    """The address a host stands for without a DNS lookup (the emulator works offline)."""
    if host == "localhost" or host.endswith(".localhost"):
        return "127.0.0.1"
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


# OpenSSL 3's library codes and names, to write its errors as ERR_error_string_n does.
_OPENSSL_LIBRARIES = {
    "PEM": (9, "PEM routines"),
    "X509": (11, "x509 certificate routines"),
    "ASN1": (13, "asn1 encoding routines"),
    "SSL": (20, "SSL routines"),
}


def certificate_problem(certificate: bytes) -> str | None:
    """Why Telegram can't use an uploaded certificate, in its words; None when it can.

    td's SslCtx (do_create_ssl_ctx) loads it with OpenSSL's SSL_CTX_load_verify_locations,
    which reads PEM only, and its error ends with OpenSSL's own ``{error:...}``. The same
    OpenSSL call decides here (a DER file is refused, as on Telegram).
    """
    handle, path = tempfile.mkstemp(prefix="fake-telegram-upload-", suffix=".pem")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(certificate)
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
    except ssl.SSLError as exc:
        return "Failed to set custom certificate file" + _openssl_suffix(exc)
    finally:
        os.unlink(path)
    return None


def _openssl_suffix(exc: ssl.SSLError) -> str:
    library = _OPENSSL_LIBRARIES.get(str(getattr(exc, "library", "") or ""))
    text = str(exc.args[1] if len(exc.args) > 1 else exc)
    reason = re.sub(r"^\[[^]]*\]\s*|\s*\(_ssl\.c:\d+\)$", "", text)
    if library is None or not isinstance(exc.errno, int):
        return f"{{{reason}}}"
    code = (library[0] << 23) | (exc.errno & 0x7FFFFF)
    return f"{{error:{code:08X}:{library[1]}::{reason}}}"
