"""Hosts and URLs the user gives: checked before anything runs (pure).

>>> check_host("::1"), check_host("localhost"), check_host("0.0.0.0")
('::1', 'localhost', '0.0.0.0')
>>> check_host("[::1]")
Traceback (most recent call last):
...
ValueError: host must be an IP address or a host name without brackets, scheme or port, not '[::1]'
>>> is_loopback_url("http://127.0.0.2:8080/v1"), is_loopback_url("http://gpu-box/v1")
(True, False)
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

_LABEL = r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*\.?$")


def check_host(host: object) -> str:
    """An address to bind or reach: an IPv4/IPv6 address or a DNS name."""
    if not isinstance(host, str) or not host:
        raise TypeError(f"host must be a non-empty str, not {host!r}")
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    if _HOSTNAME.match(host):
        return host
    raise ValueError(
        f"host must be an IP address or a host name without brackets, scheme or port, not {host!r}"
    )


def check_base_url(url: object) -> str:
    """``http(s)://host[:port][/path]`` without its trailing slash, or ValueError.

    >>> check_base_url("http://127.0.0.1:8080/v1/")
    'http://127.0.0.1:8080/v1'
    >>> check_base_url("http://:80")
    Traceback (most recent call last):
    ...
    ValueError: base_url must be an http(s):// URL with a host, not 'http://:80'
    """
    if not isinstance(url, str):
        raise TypeError(f"base_url must be a str, not {type(url).__name__}")
    bad = ValueError(f"base_url must be an http(s):// URL with a host, not {url!r}")
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise bad
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError when it is not a number in range
        host = parts.hostname
    except ValueError:
        raise bad from None
    if parts.scheme not in ("http", "https") or not host or parts.query or parts.fragment:
        raise bad
    try:
        check_host(host)
    except ValueError:
        raise bad from None
    if port == 0:
        raise bad
    return url.rstrip("/")


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` names this machine (127.0.0.0/8, ::1 or localhost)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
