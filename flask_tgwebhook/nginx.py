"""An nginx site for the bot: TLS in front of gunicorn, for the webhook and the signed links.

:func:`nginx_site` renders a ``server`` block that ``flask tg nginx-config`` prints. It covers
both routes Telegram's and other services' requests come to (the webhook path, and the
external-link prefix), speaks TLS 1.2 and 1.3 only, passes the client's address the way
``TELEGRAM_TRUSTED_PROXIES = 1`` expects it, limits bodies to what the app accepts, and waits
for the app a little less than Telegram waits for nginx.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["TRUSTED_PROXIES", "NginxSite", "nginx_site"]

#: What ``TELEGRAM_TRUSTED_PROXIES`` must be with this site in front (one proxy: nginx).
TRUSTED_PROXIES = 1
#: Seconds nginx waits for the app's answer; Telegram gives up on a webhook after 60.
READ_TIMEOUT = 55

# Values end up in a config file: nothing that could close a directive or a block.
_SAFE = re.compile(r"[^\s;{}'\"#$]+")


@dataclass(frozen=True)
class NginxSite:
    """What the site needs to know; every path is absolute on the server."""

    #: ``server_name``: the webhook URL's host.
    server_name: str
    #: ``listen`` address: a port (``8443``) or ``address:port``.
    listen: str
    #: The certificate (chain) file and its private key, PEM.
    certificate: str
    certificate_key: str
    #: Where gunicorn listens: ``127.0.0.1:8000`` or ``unix:/run/bot.sock``.
    upstream: str
    #: The webhook route and the external links' prefix.
    webhook_path: str = "/telegram/webhook"
    external_path: str = "/telegram/external"
    #: Largest request body, bytes: the larger of the two routes' limits.
    max_body_size: int = 1024 * 1024
    #: The access log file (its lines show no signed-link token).
    access_log: str = "/var/log/nginx/flask_tgwebhook.access.log"


def _check(name: str, value: str) -> str:
    if not _SAFE.fullmatch(value):
        raise ValueError(
            f"The {name} {value!r} cannot go into an nginx config as it is (spaces, quotes, "
            "';', '{', '}', '#' and '$' are not allowed); pass a plain value."
        )
    return value


def nginx_site(site: NginxSite) -> str:
    """The nginx ``server`` block for ``site``, ready for ``/etc/nginx/sites-enabled/``.

    :raises ValueError: a value that would break the config; the message names it.
    """
    for name in (
        "server_name",
        "listen",
        "certificate",
        "certificate_key",
        "upstream",
        "access_log",
    ):
        _check(name.replace("_", " "), getattr(site, name))
    webhook = _check("webhook path", site.webhook_path.rstrip("/") or "/")
    external = _check("external path", site.external_path.rstrip("/") + "/")
    # ``location`` without ``=`` is a prefix: the webhook path with or without a trailing
    # slash (Telegram follows no redirect, so both must reach the app).
    proxy = f"""
        proxy_pass http://flask_tgwebhook_app;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_connect_timeout 5s;
        proxy_send_timeout {READ_TIMEOUT}s;
        proxy_read_timeout {READ_TIMEOUT}s;
        # Telegram retries a failed delivery itself; nginx must not send it twice.
        proxy_next_upstream off;"""
    return f"""# nginx site for a flask_tgwebhook bot, made by `flask tg nginx-config`.
# With this proxy in front, set TELEGRAM_TRUSTED_PROXIES = {TRUSTED_PROXIES} in the app, so it
# sees the sender's address (the right-most X-Forwarded-For entry nginx adds) instead of nginx's.

# The access log without signed-link tokens (they are passwords) or query strings.
map $uri $flask_tgwebhook_path {{
    ~^{external}  {external}<redacted>;
    default       $uri;
}}
log_format flask_tgwebhook '$remote_addr [$time_local] "$request_method $flask_tgwebhook_path" '
                           '$status $body_bytes_sent $request_time';

upstream flask_tgwebhook_app {{
    server {site.upstream};
    keepalive 8;
}}

server {{
    listen {site.listen} ssl;
    server_name {site.server_name};

    ssl_certificate     {site.certificate};
    ssl_certificate_key {site.certificate_key};
    # Telegram speaks TLS 1.2 and 1.3; older versions are refused.
    ssl_protocols       TLSv1.2 TLSv1.3;
    ssl_session_cache   shared:flask_tgwebhook_tls:1m;

    # The app answers 413 itself for larger bodies; nginx's own limit must not be lower.
    client_max_body_size {site.max_body_size};
    # Signed-link tokens are passwords: the access log shows their prefix only.
    access_log {site.access_log} flask_tgwebhook;

    # Telegram's deliveries.
    location {webhook} {{{proxy}
    }}

    # Signed links for other services (payment providers, CI, forms).
    location {external} {{{proxy}
    }}

    # Anything else is not the bot's; serve your site here, or leave it refused.
    location / {{
        return 404;
    }}
}}
"""
