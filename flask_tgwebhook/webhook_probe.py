"""Calling the webhook URL the way Telegram does, to see what it would see.

:func:`probe_webhook` connects over TLS 1.2 or later, checks the certificate as Telegram would
(against the uploaded certificate, else the system's CAs), then POSTs twice: with the secret
and an empty object (the app must answer 400, running nothing) and without the secret (403).
Each result is a plain fact; :mod:`flask_tgwebhook.doctor` turns facts into advice.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["Answer", "Probe", "probe_webhook", "served_certificate"]

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)


@dataclass
class Answer:
    """One request's outcome: the status, or why there was none."""

    status: int | None = None
    error: str | None = None


@dataclass
class Probe:
    """What the URL did: connect, TLS, and the two requests."""

    #: ``None`` when the TCP connection succeeded; otherwise why not.
    connect_error: str | None = None
    #: ``None`` when the TLS handshake (with verification) succeeded; otherwise why not.
    tls_error: str | None = None
    #: Whether the failure was the certificate's verification (not the handshake itself).
    verify_failed: bool = False
    #: The TLS version agreed on.
    tls_version: str | None = None
    with_secret: Answer = field(default_factory=Answer)
    without_secret: Answer = field(default_factory=Answer)


def _context(cafile: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # what Telegram speaks
    return context


def served_certificate(host: str, port: int, timeout: float) -> bytes | None:
    """The certificate the server presents (DER), read without verifying it."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            return tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError):
        return None


def _post(
    url: str, context: ssl.SSLContext, timeout: float, secret: str | None, connect_to: str | None
) -> Answer:
    parts = urlsplit(url)
    host = parts.hostname or ""
    connection = http.client.HTTPSConnection(
        host, parts.port or 443, timeout=timeout, context=context
    )
    if connect_to:
        connection.host = connect_to  # TELEGRAM_WEBHOOK_IP_ADDRESS: connect there, name the host
    headers = {"Content-Type": "application/json", "Host": parts.netloc}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    try:
        # An object without update_id: a correct route answers 400 and runs no handler.
        connection.request("POST", parts.path or "/", body=b"{}", headers=headers)
        return Answer(status=connection.getresponse().status)
    except (OSError, http.client.HTTPException) as exc:
        return Answer(error=f"{type(exc).__name__}: {exc}")
    finally:
        connection.close()


def probe_webhook(
    url: str,
    *,
    secret: str | None,
    cafile: str | None = None,
    timeout: float = 5.0,
    ip_address: str | None = None,
) -> Probe:
    """Call ``url`` as Telegram would; ``cafile`` is the uploaded self-signed certificate."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 443
    target = ip_address or host
    probe = Probe()
    try:
        raw = socket.create_connection((target, port), timeout=timeout)
    except OSError as exc:
        probe.connect_error = exc.strerror or str(exc)
        return probe
    context = _context(cafile)
    try:
        with context.wrap_socket(raw, server_hostname=host) as tls:
            probe.tls_version = tls.version()
    except ssl.SSLCertVerificationError as exc:
        probe.tls_error, probe.verify_failed = exc.verify_message or str(exc), True
    except (ssl.SSLError, OSError) as exc:
        probe.tls_error = str(exc)
    finally:
        raw.close()
    if probe.tls_error is not None:
        return probe
    probe.with_secret = _post(url, context, timeout, secret or "", ip_address)
    probe.without_secret = _post(url, context, timeout, None, ip_address)
    return probe
