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
delivery attempt, since DNS may have changed meanwhile. Redirects are never followed. A name that
resolves to a public address at the check and to a private one at the connection (DNS rebinding)
is not caught here: an egress firewall on the workers is the complete answer.
"""
from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from jobs.errors import CallbackRefused, WebhooksDisabled
from jobs.settings import Settings

MAX_LENGTH = 2048


def check_callback_url(url: str, settings: Settings) -> str:
    """The URL, stripped, when a worker may call it; else CallbackRefused."""
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
    if not settings.webhook_allow_private:
        for address in _resolve(host, port or (443 if parts.scheme == "https" else 80)):
            if not address.is_global or address.is_multicast:
                raise CallbackRefused(f"host {host!r} resolves to {address}, a non-public address")
    return url


def _host_matches(host: str, pattern: str) -> bool:
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


def _resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise CallbackRefused(f"host {host!r} does not resolve ({exc})") from None
    addresses = []
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
