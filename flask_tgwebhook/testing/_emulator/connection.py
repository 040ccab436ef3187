"""One keep-alive connection to the webhook, as WebhookActor opens them.

Plain :mod:`http.client` over a socket the emulator opens itself, so that each rule of the
real server is visible here: the request it writes (WebhookActor::send_update), the
certificate check (td's SslStream), the 60 s deadline for the answer, the reason phrase
repeated as the server sent it, and which failures reach ``getWebhookInfo``.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import http.client
import os
import selectors
import socket
import ssl
import tempfile
import zlib
from dataclasses import dataclass
from typing import Any

from .delivery import Attempt, reply_call
from .plumbing import Call
from .webhook_rules import WebhookConfig

#: WebhookActor::handle: a webhook that closes the connection without answering. The update
#: is retried, but getWebhookInfo shows nothing (on_webhook_error is not called for it).
HANG_UP = "Webhook connection closed"
#: OpenSSL 3's words for a certificate that does not verify, as getWebhookInfo shows them.
CERT_VERIFY_FAILED = "SSL error {error:0A000086:SSL routines::certificate verify failed}"


@dataclass(frozen=True)
class Outcome:
    """What one POST came to.

    :param reported: whether getWebhookInfo shows ``attempt.error`` (not for a hang-up).
    :param keep: whether the connection may carry the next update.
    """

    attempt: Attempt
    reply: Call | None = None
    reported: bool = True
    keep: bool = True


class _Connection(http.client.HTTPConnection):
    """http.client over a socket opened by :meth:`WebhookConnection.open_socket`."""

    def __init__(self, owner: WebhookConnection) -> None:
        super().__init__(owner.config.parsed.host, owner.config.parsed.port, timeout=owner.timeout)
        self._owner = owner

    def connect(self) -> None:
        self.sock = self._owner.open_socket()


class WebhookConnection:
    """A connection to ``config``'s URL that posts one update at a time.

    :param timeout: seconds for connecting and for the whole answer.
    """

    def __init__(self, config: WebhookConfig, timeout: float) -> None:
        self.config = config
        self.timeout = timeout
        self._cafile: str | None = None
        self._http: _Connection | None = None
        if config.certificate is not None:
            self._cafile = _write_pem(config.certificate)

    # -- the socket ------------------------------------------------------------------------

    def open_socket(self) -> socket.socket:
        url = self.config.parsed
        # setWebhook's ip_address: connect there instead of resolving the host.
        address = self.config.ip_address or url.host
        sock = socket.create_connection((address, url.port), timeout=self.timeout)
        if url.scheme != "https":
            return sock
        try:
            return self._wrap(sock)
        except BaseException:
            sock.close()
            raise

    def _wrap(self, sock: socket.socket) -> ssl.SSLSocket:
        host = self.config.parsed.host
        is_ip = _is_ip(host)
        context = ssl.create_default_context(cafile=self._cafile)
        # td's SslStream::init: with an uploaded certificate an IP host is checked as a host
        # name (against the certificate's DNS names, or its CN when it has none), never
        # against its IP entries; without one, against the IP entries. No SNI for an IP.
        check_as_name = is_ip and self._cafile is not None
        if check_as_name:
            context.check_hostname = False
        tls = context.wrap_socket(sock, server_hostname=None if check_as_name else host)
        if check_as_name and not _names_match(tls.getpeercert() or {}, host):
            tls.close()
            raise ssl.SSLCertVerificationError(1, "certificate verify failed")
        return tls

    # -- one POST --------------------------------------------------------------------------

    def post(self, body: bytes) -> Outcome:
        """POST ``body`` (the update as JSON) and read the whole answer."""
        idle = self._http.sock if self._http is not None else None
        if idle is not None and closed_by_peer(idle):
            self.close()  # as td drops it: the update goes on a new connection
        if self._http is None:
            self._http = _Connection(self)
        if self._http.sock is None:
            try:
                self._http.connect()
            except OSError as exc:
                self.close()
                return Outcome(Attempt(None, describe_failure(exc, reading=False)), keep=False)
        try:
            self._http.request("POST", self.config.parsed.target, body, self._headers())
            response = self._http.getresponse()
            data = response.read()
        except (http.client.RemoteDisconnected, http.client.BadStatusLine, BrokenPipeError):
            self.close()
            return Outcome(Attempt(None, HANG_UP), reported=False, keep=False)
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            return Outcome(Attempt(None, describe_failure(exc, reading=True)), keep=False)
        keep = not response.will_close
        if not keep:
            self.close()
        status = response.status
        if 200 <= status <= 299:
            content = _decoded(data, response.getheader("Content-Encoding", ""))
            reply = reply_call(response.getheader("Content-Type", ""), content)
            return Outcome(Attempt(status, None), reply, keep=keep)
        # WebhookActor::handle repeats the reason phrase exactly as the server wrote it.
        error = f"Wrong response from the webhook: {status} {response.reason}"
        return Outcome(Attempt(status, error, _retry_after(response)), keep=keep)

    def _headers(self) -> dict[str, str]:
        url = self.config.parsed
        headers = {
            "Host": url.host_header,
            "Content-Type": "application/json",
            "Connection": "keep-alive",
            "Accept-Encoding": "gzip, deflate",
        }
        if url.userinfo:  # WebhookActor::send_update: user:password@ in the URL
            headers["Authorization"] = "Basic " + base64.b64encode(url.userinfo.encode()).decode()
        if self.config.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = self.config.secret_token
        return headers

    def close(self) -> None:
        """Close the socket (the next POST opens a new one)."""
        if self._http is not None:
            self._http.close()
            self._http = None

    def abort(self) -> None:
        """Shut the socket down from another thread, so a wait for an answer ends now."""
        http_connection = self._http
        sock = http_connection.sock if http_connection is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def discard(self) -> None:
        """Close for good and remove the certificate file."""
        self.close()
        if self._cafile is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._cafile)
            self._cafile = None


def closed_by_peer(sock: socket.socket) -> bool:
    """Whether the webhook has closed this idle kept-alive connection.

    td's event loop sees the webhook's FIN on an idle connection and drops it, so Telegram never
    writes an update into a connection the webhook closed. Nothing is due on an idle one: if it
    is readable, that is the FIN (or bytes nobody asked for), and the update needs a new one.
    """
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(sock, selectors.EVENT_READ)
            return bool(selector.select(timeout=0))
    except (OSError, ValueError):  # already closed on our side
        return True


def describe_failure(exc: BaseException, *, reading: bool) -> str:
    """A connection failure in the words getWebhookInfo uses for it."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return CERT_VERIFY_FAILED
    if isinstance(exc, ssl.SSLError):
        return f"SSL error {{{exc.reason or exc}}}"
    if isinstance(exc, socket.gaierror):
        return "Failed to resolve host: Name or service not known"
    if isinstance(exc, ConnectionRefusedError):
        return "Connection refused"
    if isinstance(exc, ConnectionResetError):
        return "Connection reset by peer"
    if isinstance(exc, TimeoutError):
        # HttpConnectionBase::timeout_expired: no (whole) answer within the deadline.
        return "Read timeout expired" if reading else "Connection timed out"
    return HANG_UP


def _retry_after(response: http.client.HTTPResponse) -> int | None:
    value = (response.getheader("Retry-After") or "").strip()
    return int(value) if value.isdigit() else None


def _decoded(data: bytes, encoding: str) -> bytes:
    """The body as the webhook meant it (Telegram asks for gzip or deflate)."""
    encoding = encoding.strip().lower()
    try:
        if encoding == "gzip":
            return gzip.decompress(data)
        if encoding == "deflate":
            return zlib.decompress(data)
    except (OSError, zlib.error):
        return b""
    return data


def _is_ip(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except OSError:
        return False
    return True


def _names_match(cert: dict[str, Any], name: str) -> bool:
    """OpenSSL's host-name check of ``name``: DNS names, or the CN when there are none."""
    dns = [value for kind, value in cert.get("subjectAltName", ()) if kind == "DNS"]
    if dns:
        return any(value.lower() == name.lower() for value in dns)
    common_names = [
        value for rdn in cert.get("subject", ()) for key, value in rdn if key == "commonName"
    ]
    return any(value.lower() == name.lower() for value in common_names)


def _write_pem(certificate: bytes) -> str:
    """The uploaded certificate in a temporary file, to trust it."""
    handle, path = tempfile.mkstemp(prefix="fake-telegram-", suffix=".pem")
    with os.fdopen(handle, "wb") as file:
        file.write(certificate)
    return path
