"""Fetching an input that a client gave by reference (an OGC `href`, a WES URL), safely.

The service must not become a proxy into the network it sits in (SSRF): the host name is resolved
once, every address it resolves to must be public unless `AA_CALLBACK_ALLOW` names the host or a
network holding it (the rule callbacks follow, SPEC §4.10), and the connection goes to the address
that was checked, so a second DNS answer cannot swap it. Redirects are not followed; the body is
read up to the upload limit.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import urllib3

from app.errors import AppError, InvalidInput

TIMEOUT_SECONDS = 15


class TooLarge(AppError):
    """The referenced file is larger than the upload limit."""

    status = 413
    code = "too_large"


def allowed(host: str, address: str, allow: tuple[str, ...]) -> bool:
    """Whether `address` (resolved from `host`) may be fetched: public, or named in `allow`."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    for entry in allow:
        if entry == host:
            return True
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue  # a host name, not a network
    return ip.is_global and not ip.is_multicast


def fetch(url: str, *, limit_bytes: int, allow: tuple[str, ...] = ()) -> tuple[bytes, str]:
    """The body and content type at `url` (http or https); a clear 4xx error when it cannot be had."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InvalidInput(f"Cannot fetch {_shown(url)}: not a valid URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidInput(f"Cannot fetch {_shown(url)}: only http and https URLs are fetched")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError, UnicodeError):
        raise InvalidInput(f"Cannot fetch {_shown(url)}: the host cannot be resolved") from None
    addresses = sorted({info[4][0] for info in infos})
    refused = [a for a in addresses if not allowed(host, a, allow)]
    if refused or not addresses:
        raise InvalidInput(f"Cannot fetch {_shown(url)}: {host} is not a public address "
                           "(AA_CALLBACK_ALLOW can name hosts or networks to allow)")
    target = next((a for a in addresses if ":" not in a), addresses[0])
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    pool: urllib3.HTTPConnectionPool
    if parts.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(target, port, server_hostname=host, assert_hostname=host,
                                           timeout=TIMEOUT_SECONDS, retries=False)
    else:
        pool = urllib3.HTTPConnectionPool(target, port, timeout=TIMEOUT_SECONDS, retries=False)
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    try:
        response = pool.urlopen("GET", path, headers={"Host": netloc}, redirect=False, preload_content=False)
        try:
            if response.status != 200:
                raise InvalidInput(f"Cannot fetch {_shown(url)}: it answered {response.status}")
            body = _read(response, limit_bytes, url)
            return body, response.headers.get("Content-Type", "")
        finally:
            response.release_conn()
    except urllib3.exceptions.HTTPError as exc:
        raise InvalidInput(f"Cannot fetch {_shown(url)}: {type(exc).__name__}") from None
    finally:
        pool.close()


def _read(response: urllib3.BaseHTTPResponse, limit_bytes: int, url: str) -> bytes:
    chunks, size = [], 0
    for chunk in response.stream(65536):
        size += len(chunk)
        if size > limit_bytes:
            raise TooLarge(f"{_shown(url)} is larger than the upload limit ({limit_bytes // (1024 * 1024)} MB)")
        chunks.append(chunk)
    return b"".join(chunks)


def _shown(url: str) -> str:
    return url if len(url) <= 80 else url[:77] + "..."
