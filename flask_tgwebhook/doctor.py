"""``flask tg doctor``: check what usually breaks a deployed bot, and say how to fix each thing.

:func:`diagnose` runs every check for an app and returns :class:`Finding` objects: the
token (getMe), the webhook URL (https, an allowed port, a public address, the route's
path), the certificate (PEM, the host, the dates), the URL itself over TLS 1.2+ (the secret
accepted, its absence refused), what Telegram reports (the webhook it has, its last
delivery error in plain words, the pending updates), the store, and the signing key of
signed links. The CLI prints one line per finding; docs/troubleshooting.rst lists them.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import socket
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .certs import check_certificate, load_certificate
from .client import Bot
from .delivery_errors import explain_delivery_error
from .errors import NotFound, TelegramError, Unauthorized
from .redact import redact
from .startup_warnings import Advice, links_without_secret_key, token_shadowed, webhook_taken
from .token_source import token_source
from .webhook_probe import Probe, probe_webhook, served_certificate
from .webhook_url import ALLOWED_PORTS, public_webhook_url

if TYPE_CHECKING:
    from flask import Flask

    from .extension import TelegramState

__all__ = ["RECENT_ERROR", "Finding", "diagnose"]

#: Seconds a delivery error counts as current.
RECENT_ERROR = 600


@dataclass(frozen=True)
class Finding:
    """One check's result: ``problem`` findings carry the fix."""

    check: str
    message: str
    fix: str = ""
    problem: bool = True

    def line(self) -> str:
        """The finding as one line of output."""
        if not self.problem:
            return f"ok       {self.check}: {self.message}"
        return f"PROBLEM  {self.check}: {self.message} Fix: {self.fix}"


def _advice(check: str, advice: Advice) -> Finding:
    return Finding(check, advice.problem, advice.fix)


def _ok(check: str, message: str) -> Finding:
    return Finding(check, message, problem=False)


def diagnose(
    app: Flask,
    *,
    local: bool = False,
    timeout: float = 5.0,
    environ: Mapping[str, str] | None = None,
) -> list[Finding]:
    """Every check for ``app``; call it inside the app's context.

    :param local: the Bot API server is a local one (``telegram-bot-api --local``, the
        emulator), which delivers to any port and to private addresses.
    :param timeout: seconds for each network step.
    """
    from .extension import EXTENSION_KEY

    env = os.environ if environ is None else environ
    state: TelegramState = app.extensions[EXTENSION_KEY]
    config = app.config
    findings: list[Finding] = []
    bot_ok = _check_token(state, config, env, timeout, findings)
    url = public_webhook_url(config, env)
    certificate = str(_setting(config, env, "TELEGRAM_WEBHOOK_CERTIFICATE") or "") or None
    if url is None:
        findings.append(
            Finding(
                "url",
                "There is no public webhook URL.",
                "Set TELEGRAM_WEBHOOK_URL to the https address Telegram should call (or "
                "TELEGRAM_PUBLIC_HOST).",
            )
        )
    else:
        findings += _check_url(url, state.settings.webhook_path, local)
        findings += _check_uploaded(certificate, urlsplit(url).hostname or "")
        if urlsplit(url).scheme == "https":
            ip = _setting(config, env, "TELEGRAM_WEBHOOK_IP_ADDRESS") or None
            findings += _check_reachable(url, state, certificate, ip, timeout)
    if bot_ok:
        findings += _check_telegram(state, url, certificate, timeout)
    findings.append(_check_store(state))
    findings += _check_signing_key(app)
    return findings


def _setting(config: Mapping[str, Any], env: Mapping[str, str], key: str) -> Any:
    value = config.get(key)
    return env.get(key) if value is None else value


def _bot(state: TelegramState, timeout: float) -> Bot:
    return Bot(str(state.settings.token), api_url=state.settings.api_url, timeout=(timeout,) * 2)


def _check_token(
    state: TelegramState,
    config: Mapping[str, Any],
    env: Mapping[str, str],
    timeout: float,
    findings: list[Finding],
) -> bool:
    if not state.settings.token:
        findings.append(
            Finding(
                "token",
                "No bot token is set.",
                "Export TELEGRAM_BOT_TOKEN (the token @BotFather gave you) in the app's "
                "environment.",
            )
        )
        return False
    source = token_source(config, env)
    shadowed = token_shadowed(config, env)
    if shadowed:
        findings.append(_advice("token", shadowed))
    try:
        with _bot(state, timeout) as bot:
            me: dict[str, Any] = bot.call("getMe")
    except (Unauthorized, NotFound) as exc:
        findings.append(
            Finding(
                "token",
                f"Telegram refused the token of bot {state.settings.bot_id} from "
                f"{source.where} ({exc.error_code} {redact(exc.description)}).",
                f"Copy the token again from @BotFather into {source.where}; check "
                "TELEGRAM_API_URL if you use a local Bot API server.",
            )
        )
        return False
    except TelegramError as exc:
        findings.append(
            Finding(
                "token",
                f"The Bot API at {state.settings.api_url} could not be asked ({redact(str(exc))}).",
                "Check this machine's connection to it (and TELEGRAM_API_URL).",
            )
        )
        return False
    findings.append(
        _ok("token", f"@{me.get('username')} (id {me.get('id')}), from {source.where}.")
    )
    return True


def _check_url(url: str, route: str, local: bool) -> list[Finding]:
    parts = urlsplit(url)
    found: list[Finding] = []
    if parts.scheme != "https":
        found.append(
            Finding(
                "url",
                f"{url} is not https, and Telegram delivers only over HTTPS.",
                "Serve the app behind TLS (`flask tg nginx-config`) and use its https:// URL.",
            )
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return [*found, Finding("url", f"{url} has a port that is not a number.", "Fix the URL.")]
    if port not in ALLOWED_PORTS and not local:
        found.append(
            Finding(
                "url",
                f"{url} uses port {port}; Telegram delivers only to 443, 80, 88 and 8443.",
                "Listen on one of them (nginx on 443 or 8443) and change TELEGRAM_WEBHOOK_URL.",
            )
        )
    reserved = _reserved_address(parts.hostname or "")
    if reserved and not local:
        found.append(
            Finding(
                "url",
                f"{parts.hostname} is {reserved}, which Telegram's servers cannot reach.",
                "Use the public host name or IP address of this machine in TELEGRAM_WEBHOOK_URL.",
            )
        )
    path = parts.path or "/"
    if path.rstrip("/") != route.rstrip("/"):
        found.append(
            Finding(
                "url",
                f"Telegram calls {path}, but the app's route is {route}.",
                "Unset TELEGRAM_WEBHOOK_PATH (the route then follows the URL), or make sure a "
                "proxy rewrites the path.",
            )
        )
    if not found:
        found.append(_ok("url", f"{url}"))
    return found


def _reserved_address(host: str) -> str | None:
    """How ``host`` is not a public address, or ``None`` when it is (or cannot be told)."""
    try:
        addresses = [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except OSError:
            return None
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    for address in addresses:
        if address.is_loopback:
            return f"a loopback address ({address})"
        if not address.is_global:
            return f"a private or reserved address ({address})"
    return None


def _check_uploaded(certificate: str | None, host: str) -> list[Finding]:
    if certificate is None:
        return []
    if not Path(certificate).is_file():
        return [
            Finding(
                "certificate",
                f"TELEGRAM_WEBHOOK_CERTIFICATE is {certificate}, which is not a file.",
                "Give the path of the PEM certificate (`flask tg gen-cert` makes one).",
            )
        ]
    try:
        problems = check_certificate(certificate, host=host)
    except ValueError as exc:
        return [Finding("certificate", str(exc), "Point TELEGRAM_WEBHOOK_CERTIFICATE at it.")]
    if not problems:
        info = load_certificate(certificate)
        return [_ok("certificate", f"{certificate}, for {host}, until {info.not_after:%Y-%m-%d}.")]
    return [_split_advice("certificate", f"{certificate}: {problem}") for problem in problems]


def _split_advice(check: str, text: str) -> Finding:
    """A finding from a sentence of certs.check_certificate, whose fix follows a ';'."""
    message, _, fix = text.partition("; ")
    return Finding(check, message.rstrip(".") + ".", fix[:1].upper() + fix[1:] if fix else "-")


def _check_reachable(
    url: str, state: TelegramState, certificate: str | None, ip: str | None, timeout: float
) -> list[Finding]:
    parts = urlsplit(url)
    where = f"{parts.hostname}:{parts.port or 443}"
    cafile = certificate if certificate and Path(certificate).is_file() else None
    if cafile and load_certificate(cafile).encoding != "PEM":
        cafile = None  # already reported; verify as if none were uploaded
    probe = probe_webhook(
        url, secret=state.settings.webhook_secret, cafile=cafile, timeout=timeout, ip_address=ip
    )
    if probe.connect_error is not None:
        return [
            Finding(
                "reachable",
                f"Nothing accepts connections at {where} ({probe.connect_error}).",
                "Start the TLS server in front of the app (nginx, or gunicorn with --certfile) "
                "and check that it listens on that port.",
            )
        ]
    if probe.tls_error is not None:
        return [_tls_finding(url, where, probe, cafile, timeout)]
    return _route_findings(url, probe)


def _tls_finding(url: str, where: str, probe: Probe, cafile: str | None, timeout: float) -> Finding:
    host, port = urlsplit(url).hostname or "", urlsplit(url).port or 443
    if not probe.verify_failed:
        return Finding(
            "reachable",
            f"No TLS 1.2+ handshake with {where} ({probe.tls_error}).",
            "Serve TLS 1.2 or 1.3 there (nginx: `listen ... ssl` and ssl_protocols TLSv1.2 "
            "TLSv1.3); plain http on that port does not work.",
        )
    served = served_certificate(host, port, timeout)
    if served is None:
        return Finding("reachable", f"The certificate at {where} failed: {probe.tls_error}.", "-")
    pem = x509.load_der_x509_certificate(served).public_bytes(serialization.Encoding.PEM)
    with tempfile.NamedTemporaryFile(suffix=".pem") as file:
        file.write(pem)
        file.flush()
        problems = check_certificate(file.name, host=host, warn_days=0)
        info = load_certificate(file.name)
    if problems:
        return _split_advice("reachable", f"The certificate {where} serves: {problems[0]}")
    if cafile is not None:
        return Finding(
            "reachable",
            f"{where} serves a different certificate from TELEGRAM_WEBHOOK_CERTIFICATE "
            f"(it serves SHA-256 {info.fingerprint_sha256}).",
            "Give nginx (or gunicorn) and TELEGRAM_WEBHOOK_CERTIFICATE the same pair, then run "
            "`flask tg set-webhook`.",
        )
    return Finding(
        "reachable",
        f"{where} serves a certificate nobody vouches for ({probe.tls_error}).",
        "Upload it: set TELEGRAM_WEBHOOK_CERTIFICATE to it and run `flask tg set-webhook "
        "--certificate cert.pem`; or serve a CA certificate with its chain.",
    )


def _route_findings(url: str, probe: Probe) -> list[Finding]:
    found: list[Finding] = []
    status, error = probe.with_secret.status, probe.with_secret.error
    if status in (200, 400):
        found.append(_ok("reachable", f"{url} answers over {probe.tls_version} ({status})."))
    elif status == 403:
        found.append(
            Finding(
                "secret",
                "The webhook refused this app's secret (403): the server runs with another "
                "TELEGRAM_BOT_TOKEN or TELEGRAM_WEBHOOK_SECRET, or a proxy drops the "
                "X-Telegram-Bot-Api-Secret-Token header.",
                "Give the server the same settings as here, then run `flask tg set-webhook`.",
            )
        )
    elif status is None:
        found.append(
            Finding(
                "reachable",
                f"{url} did not answer ({error}).",
                "Check the proxy's and gunicorn's logs.",
            )
        )
    else:
        explained = explain_delivery_error(f"Wrong response from the webhook: {status}")
        found.append(
            Finding(
                "reachable",
                f"{url} answers {status}: {explained}",
                "See the sentence before.",
            )
        )
    if status in (200, 400) and probe.without_secret.status != 403:
        found.append(
            Finding(
                "secret",
                f"The webhook accepts requests without the secret "
                f"({probe.without_secret.status or probe.without_secret.error}).",
                "Unset TELEGRAM_INSECURE_NO_SECRET; anyone can otherwise send fake updates.",
            )
        )
    return found


def _check_telegram(
    state: TelegramState, url: str | None, certificate: str | None, timeout: float
) -> list[Finding]:
    try:
        with _bot(state, timeout) as bot:
            info: dict[str, Any] = bot.call("getWebhookInfo")
    except TelegramError as exc:
        return [Finding("telegram", f"getWebhookInfo failed ({redact(str(exc))}).", "Retry.")]
    found: list[Finding] = []
    current = info.get("url") or ""
    pending = int(info.get("pending_update_count") or 0)
    if not current:
        found.append(
            Finding(
                "telegram",
                f"Telegram has no webhook for this bot; {pending} updates wait.",
                "Run `flask tg set-webhook` (or start gunicorn with the start-up hook).",
            )
        )
    taken = webhook_taken(info, url)
    if taken:
        found.append(_advice("telegram", taken))
    if current and certificate and not info.get("has_custom_certificate"):
        found.append(
            Finding(
                "telegram",
                "Telegram has no uploaded certificate, but TELEGRAM_WEBHOOK_CERTIFICATE is set.",
                f"Run `flask tg set-webhook --certificate {certificate}`.",
            )
        )
    message = info.get("last_error_message")
    age = time.time() - float(info.get("last_error_date") or 0)
    if message and age < RECENT_ERROR:
        found.append(
            Finding(
                "telegram",
                f'Telegram\'s last delivery failed {int(age)} s ago with "{message}"; '
                f"{pending} updates wait.",
                explain_delivery_error(message),
            )
        )
    if not found:
        last = f", last error {int(age)} s ago: {message}" if message else ""
        found.append(_ok("telegram", f"delivers to {current}; {pending} updates wait{last}."))
    return found


def _check_store(state: TelegramState) -> Finding:
    store = state.store
    name = type(store).__name__
    key = f"tg:doctor:{secrets.token_hex(8)}"
    try:
        stored = store.add(key, "doctor", 60) and store.get(key) == "doctor"
        store.delete(key)
    except Exception as exc:
        return Finding(
            "store",
            f"The store ({name}) is not reachable: {redact(str(exc))}.",
            "Start it, or fix TELEGRAM_STORE_URL / TELEGRAM_DEDUPE_URL.",
        )
    if not stored:
        return Finding("store", f"The store ({name}) did not keep a value.", "Check its server.")
    return _ok("store", f"{name} answers.")


def _check_signing_key(app: Flask) -> list[Finding]:
    advice = links_without_secret_key(app)
    return [_advice("links", advice)] if advice else []
