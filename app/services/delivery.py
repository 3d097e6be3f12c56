"""Sending one notification: an email over SMTP, or a signed JSON POST to a callback URL.

Callbacks carry `X-AA-Timestamp` (Unix seconds) and, when AA_CALLBACK_SECRET is set,
`X-AA-Signature: sha256=<hex>`, the HMAC-SHA256 under that secret of `<timestamp>.<body>`; a
receiver recomputes it and refuses an old timestamp (a replay). `X-AA-Delivery` is the
notification's id, the same on every retry. (A native `callback_url` needs the secret to be
accepted; an OGC `subscriber` URI does not, and is then called unsigned.)
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import ipaddress
import json
import smtplib
import socket
import ssl
import time
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import requests

from app.config import Settings

TIMEOUT_SECONDS = 30
SIGNATURE_HEADER = "X-AA-Signature"
TIMESTAMP_HEADER = "X-AA-Timestamp"
DELIVERY_HEADER = "X-AA-Delivery"


class DeliveryError(Exception):
    """A notification could not be delivered this time (it is retried)."""


class Undeliverable(DeliveryError):
    """A notification can never be delivered (it is given up at once)."""


# --- callbacks -------------------------------------------------------------------------------------


def refusal(url: str, allow: tuple[str, ...]) -> str | None:
    """Why a callback URL is refused (None if it is fine): not http(s), unresolvable, or a loopback,
    private, link-local or otherwise special address that AA_CALLBACK_ALLOW does not name."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http or https URL"
    host = parts.hostname.lower()
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)}
    except (OSError, UnicodeError, ValueError):  # gaierror is an OSError; a NUL in the name, a ValueError
        return f"host {host} cannot be resolved"
    for address in sorted(addresses):
        ip = ipaddress.ip_address(address.split("%")[0])
        if not ip.is_global and not _allowed(host, ip, allow):
            return (f"{host} resolves to {ip}, a loopback, private or link-local address "
                    "(allowed only when AA_CALLBACK_ALLOW names it)")
    return None


def _allowed(host: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address, allow: tuple[str, ...]) -> bool:
    for entry in allow:
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            if fnmatch.fnmatch(host, entry.lower()):
                return True
    return False


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The value of X-AA-Signature for a body sent at `timestamp`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, timestamp: str, body: bytes, signed: str, *, tolerance: float = 300) -> bool:
    """What a receiver checks: the signature matches and the timestamp is recent."""
    try:
        fresh = abs(time.time() - int(timestamp)) <= tolerance
    except ValueError:
        return False
    return fresh and hmac.compare_digest(signature(secret, timestamp, body), signed)


def post_callback(url: str, delivery_id: int, payload: dict[str, Any], settings: Settings) -> None:
    """POST the payload (signed when there is a secret); anything but a 2xx answer is a DeliveryError."""
    # Checked again at sending: the name may resolve elsewhere than when it was submitted.
    refused = refusal(url, settings.callback_allow)
    if refused:
        raise DeliveryError(f"callback URL refused: {refused}")
    body = json.dumps(payload, sort_keys=True).encode()
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp, DELIVERY_HEADER: str(delivery_id)}
    if settings.callback_secret:
        headers[SIGNATURE_HEADER] = signature(settings.callback_secret, timestamp, body)
    try:
        # No redirects: a redirect could lead to an address the check above refuses.
        response = requests.post(url, data=body, headers=headers, timeout=TIMEOUT_SECONDS, allow_redirects=False)
    except requests.RequestException as exc:
        raise DeliveryError(f"callback failed: {type(exc).__name__}") from None
    if not 200 <= response.status_code < 300:
        raise DeliveryError(f"callback answered HTTP {response.status_code}")


# --- email -----------------------------------------------------------------------------------------


def send_email(address: str, payload: dict[str, Any], settings: Settings) -> None:
    """Mail the end of a submission, with a link to it, through AA_SMTP_URL."""
    if not settings.smtp_url:
        raise DeliveryError("AA_SMTP_URL is not set")
    url = urlsplit(settings.smtp_url)
    if url.scheme not in ("smtp", "smtps") or not url.hostname:
        raise DeliveryError("AA_SMTP_URL must be smtp://[user:password@]host:port or smtps://…")
    starttls = parse_qs(url.query).get("starttls", ["false"])[0].lower() in ("1", "true", "yes")
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = address
    title = payload.get("name") or payload["id"]
    message["Subject"] = f"Submission {title} ({payload.get('job')}): {payload['state']}"
    message.set_content(
        f"Your submission {payload['id']} of job {payload.get('job')} has ended: {payload['state']}.\n"
        + (f"{payload['message']}\n" if payload.get("message") else "")
        + f"\nIts progress and results: {settings.public_url}/submissions/{payload['id']}\n"
        + f"The same for programs (JSON): {settings.public_url}/api/submissions/{payload['id']}\n")
    try:
        if url.scheme == "smtps":
            client: smtplib.SMTP = smtplib.SMTP_SSL(url.hostname, url.port or 465, timeout=TIMEOUT_SECONDS,
                                                    context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(url.hostname, url.port or 25, timeout=TIMEOUT_SECONDS)
        with client:
            if starttls:
                client.starttls(context=ssl.create_default_context())
            if url.username:
                client.login(unquote(url.username), unquote(url.password or ""))
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        # The name of the error and its SMTP code only: the server's text may quote the address.
        code = getattr(exc, "smtp_code", None)
        raise DeliveryError(f"email failed: {type(exc).__name__}{f' {code}' if code else ''}") from None


def send(kind: str, delivery_id: int, target: str, payload: dict[str, Any], settings: Settings) -> None:
    """Deliver one notification (an `ogc` one is a callback too); DeliveryError when it must be tried again."""
    if kind == "email":
        send_email(target, payload, settings)
    else:
        post_callback(target, delivery_id, payload, settings)
