"""setWebhook's rules and words, as tdlib/telegram-bot-api applies them.

The order matters and follows the real server: the URL must parse, then the secret token and
the certificate size are checked (``Bad Request: ...``), then the webhook itself is started,
and what it refuses reads ``Bad Request: bad webhook: ...`` (https only, four ports, no
reserved address). A local Bot API server skips the last group; ``allow_http`` and
``allow_loopback`` are the emulator's two halves of that switch.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from ...update import UPDATE_TYPES
from .results import parse_json_param

#: setWebhook's default max_connections, and the clamp Telegram applies (it never refuses).
DEFAULT_MAX_CONNECTIONS = 40
MAX_CONNECTIONS_RANGE = (1, 100)
#: The largest certificate file Telegram takes.
MAX_CERTIFICATE_FILE_SIZE = 3 << 20
#: Ports a non-local Bot API server delivers to.
WEBHOOK_PORTS = (443, 80, 88, 8443)
#: What Telegram sends when allowed_updates was never given: all but these three.
DEFAULT_ALLOWED_UPDATES = frozenset(UPDATE_TYPES) - {
    "chat_member",
    "message_reaction",
    "message_reaction_count",
}

_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
_HOST = re.compile(r"(?:[A-Za-z0-9._~%-]|[^\x00-\x7f])+")
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
    """A webhook URL the way td's ``parse_url`` splits it."""

    scheme: str
    host: str
    port: int


@dataclass(frozen=True)
class WebhookConfig:
    """A webhook that setWebhook accepted."""

    url: str
    parsed: WebhookUrl
    secret_token: str
    max_connections: int
    certificate: bytes | None
    ip_address: str


def parse_webhook_url(url: str) -> WebhookUrl | None:
    """Split ``url`` like td's ``parse_url`` (https when no scheme); None when it does not parse."""
    if any(ch.isspace() or ord(ch) < 0x20 for ch in url):
        return None
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "https", url
    scheme = scheme.lower()
    if scheme not in ("http", "https"):
        return None
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    hostport = authority.rpartition("@")[2]
    if hostport.startswith("["):
        end = hostport.find("]")
        host, after = hostport[1:end], hostport[end + 1 :]
        if end < 0 or (after and not after.startswith(":")):
            return None
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return None
        port_text = after[1:]
    else:
        host, _, port_text = hostport.partition(":")
        if not _HOST.fullmatch(host):
            return None
    port = 443 if scheme == "https" else 80
    if port_text:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            return None
        port = int(port_text)
    return WebhookUrl(scheme, host.lower(), port)


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
    if certificate is not None and not _loads_as_certificate(certificate):
        return "Failed to set custom certificate file"
    return None


def host_address(host: str) -> str | None:
    """The address a host stands for without a DNS lookup (the emulator works offline)."""
    if host == "localhost" or host.endswith(".localhost"):
        return "127.0.0.1"
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def _loads_as_certificate(data: bytes) -> bool:
    loaders = (x509.load_pem_x509_certificate, x509.load_der_x509_certificate)
    for load in loaders:
        try:
            load(data)
        except ValueError:
            continue
        return True
    return False
