"""Which callback URLs a job may name: the guard against server-side request forgery (SSRF).

A callback makes a worker send a POST to an address a client chose, from inside the deployment's
network. So, by default:
- only http and https, no user:password in the URL, at most 2048 characters;
- the host must resolve, and every address it resolves to must be public: loopback, private
  (10/8, 172.16/12, 192.168/16, fc00::/7), link-local (169.254/16, cloud metadata), multicast,
  reserved and unspecified addresses are refused (SALIENCY_WEBHOOK_ALLOW_PRIVATE=true allows them);
- SALIENCY_WEBHOOK_ALLOWED_HOSTS, when set, is an allow-list of host names (`*.example.com`
  matches its subdomains) checked before the address check.

The URL is checked when the job is submitted (422 on `callback_url`) and again before every
delivery attempt, since DNS may have changed meanwhile. The check resolves the name once and the
delivery connects to an address that check approved (`resolve_callback`, worker.webhooks), with
the name in the Host header and in TLS (SNI and certificate check): a name that answers a public
address to the check and a private one to the connection (DNS rebinding) cannot redirect the
delivery. Redirects are never followed.
"""
from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from jobs.errors import CallbackRefused, WebhooksDisabled
from jobs.settings import Settings

MAX_LENGTH = 2048
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[Address]]


@dataclass(frozen=True)
class Callback:
    """A checked callback: the addresses to connect to, all approved, and its URL (for the name)."""

    url: str
    addresses: tuple[Address, ...]

    def pinned_url(self, address: Address) -> str:
        """The URL with `address` in place of the name: nothing resolves it again."""
        parts = urlsplit(self.url)
        literal = f"[{address}]" if address.version == 6 else str(address)
        netloc = f"{literal}:{parts.port}" if parts.port else literal
        return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))

    @property
    def host(self) -> str:
        return (urlsplit(self.url).hostname or "").lower()

    @property
    def host_header(self) -> str:
        return urlsplit(self.url).netloc


def check_callback_url(url: str, settings: Settings) -> str:
    """The URL, stripped, when a worker may call it; else CallbackRefused."""
    return resolve_callback(url, settings).url


def resolve_callback(url: str, settings: Settings, resolve: Resolver | None = None) -> Callback:
    """Check the URL and resolve its host once; the delivery connects to the addresses returned."""
    url = url.strip()
    if len(url) > MAX_LENGTH:
        raise CallbackRefused(f"the URL is longer than {MAX_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise CallbackRefused(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise CallbackRefused("only http and https callback URLs are allowed")
    host = (parts.hostname or "").lower()
    if not host:
        raise CallbackRefused("the URL names no host")
    if parts.username is not None or parts.password is not None:
        raise CallbackRefused("credentials in the URL are not allowed; the body is signed instead")
    allowed = settings.webhook_host_list()
    if allowed and not any(_host_matches(host, pattern) for pattern in allowed):
        raise CallbackRefused(f"host {host!r} is not in SALIENCY_WEBHOOK_ALLOWED_HOSTS")
    addresses = (resolve or _resolve)(host, port or (443 if parts.scheme == "https" else 80))
    if not addresses:
        raise CallbackRefused(f"host {host!r} resolves to no address")
    if not settings.webhook_allow_private:
        for address in addresses:
            if not address.is_global or address.is_multicast:
                raise CallbackRefused(f"host {host!r} resolves to {address}, a non-public address")
    return Callback(url, tuple(addresses))


def _host_matches(host: str, pattern: str) -> bool:
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


def _resolve(host: str, port: int) -> list[Address]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise CallbackRefused(f"host {host!r} does not resolve ({exc})") from None
    addresses: list[Address] = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])  # drop an IPv6 zone id
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:127.0.0.1 is loopback too
        addresses.append(address)
    return addresses


def accept_callback(url: str | None, settings: Settings) -> str | None:
    """The `callback_url` form field at submit: None when absent; a 422 error when refused."""
    if url is None or not url.strip():
        return None
    if not settings.webhook_secret:
        raise WebhooksDisabled("webhooks are off: this service has no SALIENCY_WEBHOOK_SECRET to sign them with")
    return check_callback_url(url, settings)
