"""Refuse to send traffic anywhere but this machine or the run's own containers.

DESIGN.md §7: load and fault traffic may only go to 127.0.0.0/8 or to
containers the run itself created. The guard is checked by the launcher and
again inside the Locust process (defence in depth: the locustfile can also be
started by hand).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection
from urllib.parse import urlsplit

from loadtests.errors import HostNotAllowedError

__all__ = ["check_host", "is_loopback"]

LOCAL_NAMES = frozenset({"localhost"})
ALLOWED_SCHEMES = frozenset({"http", "https"})


def is_loopback(hostname: str) -> bool:
    """True for `localhost`, 127.0.0.0/8 and ::1; names are not resolved on purpose
    (a public name resolving to 127.0.0.1 today may not tomorrow)."""
    if hostname.lower() in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def check_host(url: str, allowed_hosts: Collection[str] = ()) -> str:
    """Return the URL's host name if traffic may go there, else raise HostNotAllowedError.

    `allowed_hosts` are exact host names/addresses of containers the run created;
    only the conductor, which created them, should pass it.
    """
    parts = urlsplit(url)
    if parts.scheme not in ALLOWED_SCHEMES or not parts.hostname:
        raise HostNotAllowedError(
            f"target {url!r} is not an http(s) URL with a host; expected e.g. http://127.0.0.1:8000"
        )
    host = parts.hostname
    if is_loopback(host) or host in allowed_hosts:
        return host
    raise HostNotAllowedError(
        f"refusing to send load to {host!r}: only 127.0.0.0/8, ::1 and localhost are allowed, "
        "plus containers this run created (pass them as allowed_hosts)"
    )
