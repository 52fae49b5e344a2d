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
import socket
from urllib.parse import urlsplit, urlunsplit

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
    >>> check_base_url("http://127.1:8080/v1")  # a shorthand address, written out
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
    literal = _literal_address(host)
    if isinstance(literal, ipaddress.IPv4Address) and str(literal) != host:
        # 127.1 or 2130706433: what connect() takes, but some HTTP clients refuse.
        netloc = parts.netloc.rsplit("@", 1)
        netloc[-1] = str(literal) + (f":{port}" if port is not None else "")
        parts = parts._replace(netloc="@".join(netloc))
        url = urlunsplit(parts)
    return url.rstrip("/")


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` reaches this machine, by the address its host resolves to.

    Any spelling counts: ``0.0.0.0`` and ``::`` (what a server bound to every
    interface prints; connecting there reaches this machine), ``127.1``,
    ``2130706433``, ``localhost.``, ``::ffff:127.0.0.1``. A name is looked up
    (``/etc/hosts`` first): it is loopback only if every address it has is.
    """
    return is_loopback_host(urlsplit(url).hostname or "")


def is_loopback_host(host: str) -> bool:
    """Whether connecting to ``host`` reaches this machine only.

    >>> [is_loopback_host(h) for h in ("127.1", "2130706433", "0.0.0.0", "::ffff:127.0.0.1")]
    [True, True, True, True]
    >>> is_loopback_host("localhost."), is_loopback_host("10.0.0.1")
    (True, False)
    """
    host = host.strip("[]")
    if not host:
        return False
    literal = _literal_address(host)
    if literal is not None:
        return _local(literal)
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True  # RFC 6761: always loopback, whatever a resolver says
    try:
        found = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return False
    addresses = [_literal_address(str(entry[4][0]).split("%")[0]) for entry in found]
    return bool(addresses) and all(a is not None and _local(a) for a in addresses)


def _literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """``host`` as an address if it is written as one, in any form the C
    library accepts (``127.1``, ``0x7f.1``, ``2130706433``), else None."""
    try:
        return ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        pass
    if host.isascii() and all(part.isalnum() for part in host.split(".")):
        try:  # inet_aton: the shorthand forms that connect() takes too
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _local(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    # Connecting to the unspecified address (0.0.0.0, ::) reaches this machine.
    return address.is_loopback or address.is_unspecified
