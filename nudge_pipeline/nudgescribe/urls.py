"""Which pre-signed download URLs the client is willing to GET."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from . import quirks
from .errors import DownloadRefusedError


def is_loopback(host: str) -> bool:
    if host in quirks.LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_internal(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved


class DownloadPolicy:
    """Allow-list of hosts: exact names, or "*.domain" for subdomains.

    Exact entries are trusted as given. Hosts admitted only by a wildcard must not resolve
    to a private, loopback or link-local address (so a wildcard cannot reach internal hosts).
    """

    def __init__(self, hosts: Iterable[str], endpoint: str) -> None:
        self.exact = {h.strip().lower().strip("[]") for h in hosts if h and not h.startswith("*.")}
        self.suffixes = tuple(h.strip().lower()[1:] for h in hosts if h and h.startswith("*."))
        self.endpoint = endpoint

    def _refuse(self, why: str) -> DownloadRefusedError:
        return DownloadRefusedError(self.endpoint, None, f"pre-signed URL refused: {why}")

    def check(self, url: str) -> str:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or not host:
            raise self._refuse("not an http(s) URL")
        if parts.username or parts.password:
            raise self._refuse("credentials embedded in the URL")
        if parts.scheme == "http" and not is_loopback(host):
            raise self._refuse(f"plain http to {host}; only https is allowed off loopback")
        if host in self.exact:
            return url
        if any(host.endswith(suffix) for suffix in self.suffixes):
            try:
                port = parts.port or (443 if parts.scheme == "https" else 80)
                infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
            except (OSError, ValueError):
                raise self._refuse(f"cannot resolve {host}") from None
            if any(_is_internal(str(info[4][0])) for info in infos):
                raise self._refuse(f"{host} resolves to a private address; list it exactly")
            return url
        raise self._refuse(
            f"host {host} is not on the download allow-list (set NUDGESCRIBE_DOWNLOAD_HOSTS)"
        )
