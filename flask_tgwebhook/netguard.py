"""Which client addresses may call the webhook: an optional allowlist of Telegram's networks.

The address checked is ``REMOTE_ADDR`` as the WSGI server (and, with
``TELEGRAM_TRUSTED_PROXIES``, werkzeug's ``ProxyFix``) set it: behind nginx that is the
right-most address nginx did not write itself, so a client cannot forge its way in by
sending its own ``X-Forwarded-For``. Anything that is not an address is refused.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

__all__ = ["TELEGRAM_NETWORKS", "IPNetwork", "NetworkAllowlist", "parse_networks"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: The networks Telegram delivers webhooks from, as its documentation lists them.
TELEGRAM_NETWORKS: tuple[str, ...] = ("149.154.160.0/20", "91.108.4.0/22")

# The word that stands for TELEGRAM_NETWORKS in the config value.
_TELEGRAM_WORD = "telegram"
# Distinct addresses remembered; Telegram delivers from a handful, so this is never reached
# in practice, and past it the memory is simply started afresh.
_CACHE_SIZE = 1024


def parse_networks(value: Any) -> tuple[IPNetwork, ...] | None:
    """Read ``TELEGRAM_ALLOWED_NETWORKS``: ``None`` when the allowlist is off.

    Accepted: ``None`` or ``False`` (off), ``True`` (Telegram's networks), or networks and
    addresses as a list or a string separated by commas or spaces, where the word
    ``telegram`` stands for Telegram's networks (``"telegram, 2001:db8::/32"``).

    :raises RuntimeError: on anything else, saying what to write instead.
    """
    if value is None or value is False or value == "":
        return None
    if value is True:
        items: list[Any] = [_TELEGRAM_WORD]
    elif isinstance(value, str):
        items = value.replace(",", " ").split()
    elif isinstance(value, Iterable):
        items = list(value)
    else:
        raise _bad(repr(value))
    networks: list[IPNetwork] = []
    for item in items:
        if isinstance(item, str) and item.strip().lower() == _TELEGRAM_WORD:
            networks.extend(ipaddress.ip_network(n) for n in TELEGRAM_NETWORKS)
            continue
        if isinstance(item, ipaddress.IPv4Network | ipaddress.IPv6Network):
            networks.append(item)
            continue
        if not isinstance(item, str):
            raise _bad(repr(item))
        try:
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise _bad(repr(item)) from None
    if not networks:
        raise _bad("an empty list")
    return tuple(networks)


def _bad(what: str) -> RuntimeError:
    return RuntimeError(
        f"TELEGRAM_ALLOWED_NETWORKS must be True (Telegram's networks), None (no allowlist), "
        f"or networks like '149.154.160.0/20' and '2001:db8::/32' (the word 'telegram' adds "
        f"Telegram's own); {what} is none of these."
    )


class NetworkAllowlist:
    """Answers whether a client address belongs to one of ``networks``.

    The answer for each address string is remembered, so a request costs one dict lookup:
    the fast path never parses an address it has seen before.
    """

    __slots__ = ("_cache", "networks")

    def __init__(self, networks: Iterable[IPNetwork]) -> None:
        self.networks = tuple(networks)
        self._cache: dict[str | None, bool] = {}

    def allows(self, remote_addr: str | None) -> bool:
        """Whether ``remote_addr`` is in the allowlist; a missing or garbled one is not."""
        known = self._cache.get(remote_addr)
        if known is not None:
            return known
        allowed = self._check(remote_addr)
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()  # garbage from clients must not grow memory without bound
        self._cache[remote_addr] = allowed
        return allowed

    def _check(self, remote_addr: str | None) -> bool:
        if not remote_addr:
            return False
        try:
            address = ipaddress.ip_address(remote_addr)
        except ValueError:
            return False  # e.g. a forged X-Forwarded-For that is not an address: 403, not 500
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # '::ffff:149.154.167.1' from a dual-stack socket
        return any(address in network for network in self.networks)

    def __repr__(self) -> str:
        return f"NetworkAllowlist({[str(n) for n in self.networks]!r})"
