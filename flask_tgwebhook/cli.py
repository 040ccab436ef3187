"""``flask tg``: see and fix the bot's webhook from a shell, make certificates, poll in development.

A thin click layer: the work is done by :mod:`flask_tgwebhook.startup` (webhook URL and
setWebhook), :mod:`flask_tgwebhook.certs` (certificates) and the extension's dispatcher.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import itertools
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import click
from flask import current_app
from flask.cli import AppGroup

from .certs import check_certificate, generate_self_signed_cert, load_certificate
from .client import Bot
from .config import DeploySettings
from .dispatch import qualified_name
from .errors import Conflict, NotFound, TelegramError, Unauthorized
from .polling import poll_updates
from .redact import redact
from .startup import patient_bot, setup_webhook
from .startup_warnings import CertificateWouldBeDropped
from .state import get_state
from .token_source import refused_token
from .tokens import NO_TOKEN
from .update import UPDATE_TYPES
from .webhook_url import WebhookURLError, public_webhook_url, validate_webhook_url

if TYPE_CHECKING:
    from .state import TelegramState

__all__ = ["tg_cli"]

#: Longest flood-control wait (seconds) a command sits out before giving up.
CLI_FLOOD_WAIT = 60.0
#: What Telegram delivers when allowed_updates is empty or was never set.
DEFAULT_UPDATES = (
    "the default (every type except chat_member, message_reaction, message_reaction_count)"
)

_DIR = click.Path(file_okay=False, path_type=Path)
_FILE = click.Path(dir_okay=False, path_type=Path)
_CERT = click.Path(exists=True, dir_okay=False, path_type=Path)
_SECONDS = click.IntRange(min=1)
_DROP_HELP = "Drop the updates waiting at Telegram."

#: Where ``--bot`` is kept for the subcommand (``click.Context.meta`` is shared by them).
_BOT_KEY = "flask_tgwebhook.bot"


@click.group(
    "tg",
    cls=AppGroup,
    help="Manage the Telegram bot: its webhook, certificates and handlers.",
    context_settings={"show_default": True},
)
@click.option(
    "--bot",
    "bot_name",
    metavar="NAME",
    help="Which bot of the app (TelegramWebhook(app, name=NAME)); default: the unnamed one.",
)
@click.pass_context
def tg_cli(ctx: click.Context, bot_name: str | None) -> None:
    ctx.meta[_BOT_KEY] = bot_name


class _EchoHandler(logging.Handler):
    def __init__(self, token: str | None) -> None:
        super().__init__()
        self.token = token

    def emit(self, record: logging.LogRecord) -> None:
        message = redact(record.getMessage(), token=self.token)
        click.echo(message, err=record.levelno >= logging.WARNING)


def _registered_url(info: dict[str, Any]) -> str:
    """The webhook URL Telegram reports, fit to print: one that an older library registered
    may hold the token (``https://host/<token>``)."""
    return redact(str(info.get("url") or ""), token=_state().settings.token)


def _bot_name() -> str | None:
    """The bot ``--bot`` names (``None``: the app's unnamed bot)."""
    name: str | None = click.get_current_context().meta.get(_BOT_KEY)
    return name


def _state() -> TelegramState:
    try:
        return get_state(name=_bot_name())
    except RuntimeError as exc:
        raise click.UsageError(str(exc)) from None


@contextmanager
def _telegram(state: TelegramState) -> Iterator[tuple[Bot, logging.Logger]]:
    """A Bot API client for one command, and a logger that prints; errors become messages."""
    settings = state.settings
    if not settings.token:
        raise click.ClickException(NO_TOKEN)
    bot = patient_bot(settings, CLI_FLOOD_WAIT)
    # Not registered with logging: what ensure_webhook reports is this command's output.
    log = logging.Logger("flask_tgwebhook.cli")
    log.addHandler(_EchoHandler(settings.token))
    try:
        yield bot, log
    except (Unauthorized, NotFound) as exc:
        error = f"{exc.error_code} {redact(exc.description)}"
        raise click.ClickException(refused_token(current_app.config, bot.bot_id, error)) from None
    except Conflict as exc:
        raise click.ClickException(
            f"Telegram refused getUpdates (409 {redact(exc.description)}). Either a webhook is "
            "set again (a deploy's start-up hook or `flask tg set-webhook` did it) or another "
            "program is polling with this token. Stop it, or run `flask tg delete-webhook`, "
            "then poll again."
        ) from None
    except TelegramError as exc:
        raise click.ClickException(redact(str(exc))) from None
    finally:
        bot.close()


@contextmanager
def _refused(*errors: type[Exception]) -> Iterator[None]:
    """These errors become the command's one-line error message."""
    try:
        yield
    except errors as exc:
        raise click.ClickException(str(exc)) from None


_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def _date(epoch: int, now: float) -> str:
    """``2024-05-01 12:00:00 UTC (3 minutes ago)`` from a Unix time."""
    ago = max(int(now - epoch), 0)
    unit, size = next((unit, size) for unit, size in _UNITS if ago >= size or size == 1)
    count = ago // size
    when = dt.datetime.fromtimestamp(epoch, dt.UTC)
    return f"{when:%Y-%m-%d %H:%M:%S} UTC ({count} {unit}{'s' * (count != 1)} ago)"


def _echo_rows(rows: list[tuple[str, str]]) -> None:
    width = max(len(label) for label, _ in rows) + 2
    for label, value in rows:
        click.echo(f"{label + ':':<{width}}{value}")


def _host(url: str) -> str:
    return urlsplit(url).hostname or ""


@tg_cli.command("set-webhook")
@click.option("--url", help="The public https URL. Default: TELEGRAM_WEBHOOK_URL or the platform.")
@click.option("--certificate", type=_CERT, help="A self-signed certificate (PEM) to upload.")
@click.option(
    "--self-signed", is_flag=True, help="Make a certificate for the URL's host, upload it."
)
@click.option("--out-dir", type=_DIR, default=".", help="Where --self-signed writes its files.")
@click.option("--force", is_flag=True, help="Let --self-signed replace existing files.")
@click.option("--drop-pending-updates", is_flag=True, help=_DROP_HELP)
@click.option("--max-connections", type=click.IntRange(1, 100), help="Parallel deliveries, 1-100.")
@click.option("--ip-address", help="Deliver to this IP instead of the one DNS gives.")
@click.option("--allowed-updates", help="Comma-separated types. Default: those with handlers.")
@click.option(
    "--no-certificate",
    is_flag=True,
    help="Remove the certificate uploaded before (the server now has a CA-issued one).",
)
def set_webhook_command(
    url: str | None,
    certificate: Path | None,
    self_signed: bool,
    out_dir: Path,
    force: bool,
    drop_pending_updates: bool,
    max_connections: int | None,
    ip_address: str | None,
    allowed_updates: str | None,
    no_certificate: bool,
) -> None:
    """Tell Telegram where to deliver updates, then show what it reports.

    An uploaded certificate is kept: without --certificate, a webhook that has one is not
    changed in a way that would remove it, unless --no-certificate says so.
    """
    state = _state()
    url = url or DeploySettings.for_bot(current_app.config, state.ext.bot_name).url
    if not url:
        raise click.UsageError(
            "No webhook URL: pass --url https://host/path, or set TELEGRAM_WEBHOOK_URL "
            "(or TELEGRAM_PUBLIC_HOST) in the config or the environment."
        )
    try:  # every check comes before the first API call
        validate_webhook_url(url, token=state.settings.token)
    except WebhookURLError as exc:
        raise click.BadParameter(str(exc), param_hint="--url") from None
    if ip_address is not None:
        try:
            ipaddress.ip_address(ip_address)
        except ValueError:
            raise click.BadParameter(
                f"{ip_address!r} is not an IP address.", param_hint="--ip-address"
            ) from None
    if certificate and self_signed:
        raise click.UsageError("Pass --certificate or --self-signed, not both.")
    if no_certificate and (certificate or self_signed):
        raise click.UsageError("--no-certificate removes the certificate: pass it alone.")
    if self_signed:
        certificate = _write_pair(
            _host(url), out_dir / "cert.pem", out_dir / "key.pem", 365, 2048, force
        )
    if certificate is not None:
        _check_upload(certificate, _host(url))
    wanted = state.ext.allowed_updates if allowed_updates is None else _split(allowed_updates)
    with _telegram(state) as (_, log), _refused(CertificateWouldBeDropped):
        report = setup_webhook(
            current_app,
            url=url,
            certificate=certificate,
            allowed_updates=wanted,
            max_connections=max_connections,
            ip_address=ip_address,
            drop_pending_updates=drop_pending_updates,
            force=True,
            drop_certificate=no_certificate,
            logger=log,
            bot=state.ext.bot_name,
        )
    # What Telegram read back: it drops the types it does not know.
    kept = report.info.get("allowed_updates") or []
    click.echo(f"Allowed updates: {', '.join(kept) or DEFAULT_UPDATES}")
    dropped = [t for t in wanted if t not in kept] if kept else []
    if dropped:
        click.echo(f"Telegram does not know, and will not send: {', '.join(dropped)}")


def _split(text: str) -> list[str]:
    types = [part.strip() for part in text.split(",") if part.strip()]
    for name in types:
        if name not in UPDATE_TYPES:
            click.echo(
                f"Warning: {name!r} is not an update type this version knows; Telegram "
                "ignores types it does not know.",
                err=True,
            )
    return types


def _check_upload(certificate: Path, host: str) -> None:
    try:
        problems = check_certificate(certificate, host=host, warn_days=0)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--certificate") from None
    if problems:
        raise click.ClickException(" ".join(problems))
    left = load_certificate(certificate).not_after - dt.datetime.now(dt.UTC)
    if left < dt.timedelta(days=30):
        click.echo(f"Warning: the certificate expires in {left.days} days.", err=True)


def _write_pair(host: str, cert: Path, key: Path, days: int, key_size: int, force: bool) -> Path:
    try:
        pair = generate_self_signed_cert(host, days=days, key_size=key_size)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--host") from None
    for path in (cert, key):
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        pair.write(cert, key, overwrite=force)
    except FileExistsError as exc:
        raise click.ClickException(str(exc)) from None
    info = load_certificate(cert)
    click.echo(f"Wrote the certificate for {pair.host} to {cert} and its private key to {key}.")
    click.echo(f"Valid until {info.not_after:%Y-%m-%d} UTC; SHA-256 {info.fingerprint_sha256}")
    return cert


@tg_cli.command("delete-webhook")
@click.option("--drop-pending-updates", is_flag=True, help=_DROP_HELP)
def delete_webhook_command(drop_pending_updates: bool) -> None:
    """Stop webhook delivery (updates then wait for getUpdates)."""
    with _telegram(_state()) as (bot, _):
        info = bot.call("getWebhookInfo")
        bot.call("deleteWebhook", drop_pending_updates=drop_pending_updates or None)
    pending = info.get("pending_update_count", 0)
    fate = "dropped" if drop_pending_updates else "kept at Telegram"
    if info.get("url"):
        click.echo(
            f"Removed the webhook {_registered_url(info)}; {pending} pending updates {fate}."
        )
    else:
        click.echo(f"No webhook was set; {pending} pending updates {fate}.")


@tg_cli.command("webhook-info")
@click.option("--check", is_flag=True, help="Exit 1 if no webhook or a recent delivery error.")
@click.option("--within", type=_SECONDS, default=600, help="Seconds an error counts as recent.")
def webhook_info_command(check: bool, within: int) -> None:
    """Show what Telegram reports about the webhook."""
    with _telegram(_state()) as (bot, _):
        info: dict[str, Any] = bot.call("getWebhookInfo")
    now = time.time()
    allowed = info.get("allowed_updates")
    rows = [
        ("URL", _registered_url(info) or "none (updates wait for getUpdates)"),
        ("Custom certificate", "yes" if info.get("has_custom_certificate") else "no"),
        ("Pending updates", str(info.get("pending_update_count", 0))),
        ("Max connections", str(info.get("max_connections", "-"))),
        ("IP address", info.get("ip_address") or "-"),
        ("Allowed updates", ", ".join(allowed) if allowed else DEFAULT_UPDATES),
    ]
    if info.get("last_error_date"):
        message = info.get("last_error_message") or "unknown"
        rows.append(("Last error", f"{_date(info['last_error_date'], now)}: {message}"))
    else:
        rows.append(("Last error", "none"))
    if info.get("last_synchronization_error_date"):
        rows.append(("Last sync error", _date(info["last_synchronization_error_date"], now)))
    _echo_rows(rows)
    if not check:
        return
    if not info.get("url"):
        raise click.ClickException("No webhook is set: Telegram delivers nothing to this app.")
    last_error = info.get("last_error_date") or 0
    if now - last_error < within:
        raise click.ClickException(f"Telegram failed to deliver in the last {within} seconds.")


@tg_cli.command("gen-cert")
@click.option("--host", help="Host name or IP the certificate is for. Default: the webhook URL's.")
@click.option("--days", type=click.IntRange(min=1), default=365)
@click.option("--key-size", type=click.Choice(["2048", "3072", "4096"]), default="2048")
@click.option("--out-dir", type=_DIR, default=".", help="Where cert.pem and key.pem go.")
@click.option("--cert", type=_FILE, help="Default: OUT_DIR/cert.pem")
@click.option("--key", type=_FILE, help="Default: OUT_DIR/key.pem")
@click.option("--force", is_flag=True, help="Replace existing files.")
def gen_cert_command(
    host: str | None,
    days: int,
    key_size: str,
    out_dir: Path,
    cert: Path | None,
    key: Path | None,
    force: bool,
) -> None:
    """Make a self-signed certificate and private key (mode 0600) for the webhook."""
    if not host:
        url = DeploySettings.for_bot(current_app.config, _bot_name()).url
        host = _host(url) if url else None
    if not host:
        raise click.UsageError("Pass --host (the public host name or IP Telegram will call).")
    cert_path = _write_pair(
        host, cert or out_dir / "cert.pem", key or out_dir / "key.pem", days, int(key_size), force
    )
    click.echo(f"Next: flask tg set-webhook --certificate {cert_path}")


@tg_cli.command("handlers")
def handlers_command() -> None:
    """List every handler with its update type, filters and module, and allowed_updates."""
    ext = _state().ext
    order = {name: i for i, name in enumerate(UPDATE_TYPES)}
    # A stable sort keeps dispatch order (first match wins) within each update type.
    handlers = sorted(ext.iter_handlers(), key=lambda h: order.get(h.update_type, len(order)))
    for update_type, group in itertools.groupby(handlers, key=lambda h: h.update_type):
        click.echo(update_type)
        for handler in group:
            filters = repr(handler.filter) if handler.filter is not None else "any"
            click.echo(f"  {handler.name}  filters: {filters}  router: {handler.router.name}")
    errors = [(r, cls, fn) for r in ext.iter_routers() for cls, fn in r.error_handlers.items()]
    if errors:
        click.echo("error handlers")
        for router, cls, fn in errors:
            name = qualified_name(fn)
            click.echo(f"  {cls.__name__}  {name}  router: {router.name}")
    if not handlers:
        click.echo("No handlers are registered.")
    click.echo(f"allowed_updates: {', '.join(ext.allowed_updates) or DEFAULT_UPDATES}")


@tg_cli.command("me")
def me_command() -> None:
    """Show who the bot is (getMe)."""
    with _telegram(_state()) as (bot, _):
        me: dict[str, Any] = bot.call("getMe")
    rows = [
        ("Bot id", str(me.get("id"))),
        ("Username", f"@{me.get('username')}"),
        ("Name", " ".join(filter(None, (me.get("first_name"), me.get("last_name"))))),
    ]
    rows += [
        (field.replace("_", " ").capitalize(), "yes" if value else "no")
        for field, value in me.items()
        if isinstance(value, bool) and field != "is_bot"
    ]
    _echo_rows(rows)


@tg_cli.command("poll")
@click.option("--yes", "-y", is_flag=True, help="Remove a webhook without asking.")
@click.option("--timeout", type=click.IntRange(0, 50), default=30)
@click.option("--limit", type=click.IntRange(1, 100), default=100)
@click.option("--max-updates", type=click.IntRange(min=1), help="Stop after this many updates.")
@click.option("--once", is_flag=True, help="Stop after one getUpdates round.")
def poll_command(yes: bool, timeout: int, limit: int, max_updates: int | None, once: bool) -> None:
    """Develop without a public URL: long-poll getUpdates and run the handlers."""
    state = _state()
    with _telegram(state) as (bot, log):
        info = bot.call("getWebhookInfo")
        if info.get("url"):
            if not yes:
                click.confirm(
                    f"The webhook {_registered_url(info)} is set, and Telegram answers "
                    "getUpdates only without one. Remove it?",
                    abort=True,
                    err=True,
                )
            bot.call("deleteWebhook")
            click.echo(
                f"Removed the webhook {_registered_url(info)}; `flask tg set-webhook` puts it back."
            )
        click.echo("Polling for updates; press Ctrl+C to stop.")
        count = poll_updates(
            state.ext,
            state.app,
            bot,
            timeout=timeout,
            limit=limit,
            max_updates=max_updates,
            once=once,
            logger=log,
        )
    click.echo(f"Handled {count} update{'s' * (count != 1)}.")


@tg_cli.command("set-commands")
@click.option("--dry-run", is_flag=True, help="Show the differences; change nothing.")
def set_commands_command(dry_run: bool) -> None:
    """Sync the command menu (description= on handlers) with Telegram, per scope and language."""
    from .commands import apply_menus, describe, plan_menus

    state = _state()
    with _telegram(state) as (bot, _):
        try:
            changes = plan_menus(bot, state.ext)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        if not changes:
            click.echo(
                "No command has a description, so there is no menu to send. Declare them with "
                '@tg.message(commands=["start"], description="Start the bot") or '
                'tg.command_menu("start", "Start the bot").'
            )
            return
        for change in changes:
            status = "changes" if change.changed else "up to date"
            click.echo(f"Menu for {describe(change.scope, change.language)} ({status}):")
            for line in change.lines():
                click.echo(f"  {line}")
        if dry_run:
            click.echo("Dry run: nothing was sent to Telegram.")
            return
        sent = apply_menus(bot, changes)
    kept = len(changes) - sent
    click.echo(
        f"Sent {sent} menu{'s' * (sent != 1)} with setMyCommands; {kept} already up to date."
    )


@tg_cli.command("doctor")
@click.option(
    "--local",
    is_flag=True,
    help="The Bot API server is a local one (telegram-bot-api --local, the emulator): "
    "any port and private addresses are fine.",
)
@click.option("--timeout", type=click.FloatRange(min=0.1), default=5.0, help="Seconds per step.")
def doctor_command(local: bool, timeout: float) -> None:
    """Check what usually breaks a deployed bot; one line per problem, exit 1 if any."""
    from .doctor import diagnose

    findings = diagnose(_state().app, local=local, timeout=timeout)
    for finding in findings:
        click.echo(redact(finding.line()))
    problems = sum(finding.problem for finding in findings)
    if problems:
        raise click.ClickException(f"{problems} problem{'s' * (problems != 1)} found.")
    click.echo("No problems found.")


@tg_cli.command("nginx-config")
@click.option("--server-name", help="Default: the webhook URL's host.")
@click.option("--listen", help="Port or address:port. Default: the webhook URL's port.")
@click.option("--certificate", help="Default: TELEGRAM_WEBHOOK_CERTIFICATE, else Let's Encrypt's.")
@click.option("--certificate-key", help="Default: key.pem beside a self-signed certificate.")
@click.option("--upstream", default="127.0.0.1:8000", help="Where gunicorn listens.")
@click.option("--access-log", default="/var/log/nginx/flask_tgwebhook.access.log")
def nginx_config_command(
    server_name: str | None,
    listen: str | None,
    certificate: str | None,
    certificate_key: str | None,
    upstream: str,
    access_log: str,
) -> None:
    """Print an nginx site for the webhook and the signed links (TLS 1.2+, in front of gunicorn)."""
    from .nginx import TRUSTED_PROXIES, NginxSite, nginx_site

    state = _state()
    config = current_app.config
    url = public_webhook_url(config)
    parts = urlsplit(url or "")
    server_name = server_name or parts.hostname
    if not server_name:
        raise click.UsageError(
            "No host for server_name: pass --server-name, or set TELEGRAM_WEBHOOK_URL."
        )
    listen = listen or str(parts.port or 443)
    certificate = certificate or config.get("TELEGRAM_WEBHOOK_CERTIFICATE")
    if not certificate:
        certificate = f"/etc/letsencrypt/live/{server_name}/fullchain.pem"
        certificate_key = certificate_key or f"/etc/letsencrypt/live/{server_name}/privkey.pem"
    certificate = str(Path(certificate).absolute())
    certificate_key = str(
        Path(certificate_key or Path(certificate).with_name("key.pem")).absolute()
    )
    sizes = (config.get("TELEGRAM_MAX_BODY_SIZE"), config.get("TELEGRAM_EXTERNAL_MAX_BODY_SIZE"))
    site = NginxSite(
        server_name=server_name,
        listen=listen,
        certificate=certificate,
        certificate_key=certificate_key,
        upstream=upstream,
        webhook_path=parts.path or state.settings.webhook_path,
        external_path=str(config.get("TELEGRAM_EXTERNAL_PATH") or "/telegram/external"),
        max_body_size=max(int(size) for size in sizes if size) if any(sizes) else 1024 * 1024,
        access_log=access_log,
    )
    try:
        click.echo(nginx_site(site), nl=False)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if state.settings.trusted_proxies != TRUSTED_PROXIES:
        click.echo(
            f"Warning: set TELEGRAM_TRUSTED_PROXIES = {TRUSTED_PROXIES} in the app (it is "
            f"{state.settings.trusted_proxies}), so it sees senders' addresses, not nginx's.",
            err=True,
        )
