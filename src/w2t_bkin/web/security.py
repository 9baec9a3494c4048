"""Who may talk to the dashboard: access token, host check, CSRF on state changes.

- Bound to a loopback address (the default), requests must name a loopback host in ``Host``
  (a web page elsewhere cannot reach the server through DNS rebinding).
- Bound to any other address, every request must carry the server's access token: the
  ``Authorization: Bearer <token>`` header, the ``w2t_token`` cookie, or ``?token=`` in the
  URL (which sets the cookie, so links inside the dashboard keep working).
- Every request that changes state is a POST carrying the per-server CSRF token in the
  ``X-CSRF-Token`` header (the pages hold it in a ``<meta>`` tag; another site's page can
  neither read it nor send a custom header without a CORS preflight the server never grants),
  and an ``Origin`` header, when sent, must be the server's own.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

TOKEN_COOKIE = "w2t_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def new_token() -> str:
    """A fresh random token (URL-safe, 256 bits)."""
    return secrets.token_urlsafe(32)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or address to bind) reaches this machine only."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class AccessPolicy:
    """The checks :func:`check_request` applies.

    Attributes
    ----------
    csrf_token
        Required in ``X-CSRF-Token`` on every POST.
    access_token
        Required on every request when set (servers bound beyond loopback).
    loopback_only
        ``Host`` must name a loopback address (servers bound to loopback).
    """

    csrf_token: str
    access_token: str | None = None
    loopback_only: bool = True


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused: HTTP status and a message saying what to do."""

    status: int
    message: str


def check_request(
    policy: AccessPolicy,
    method: str,
    headers: dict[str, str],
    cookies: dict[str, str],
    query_token: str | None,
) -> Refusal | None:
    """None when the request may proceed, else why not (``headers`` lower-case names)."""
    host = headers.get("host", "")
    if policy.loopback_only and _hostname(host) not in LOOPBACK_NAMES:
        return Refusal(
            421,
            f"this dashboard answers on localhost only, not on host {host!r}; "
            "open http://127.0.0.1:<port>/",
        )
    if policy.access_token is not None and not _has_token(
        policy.access_token, headers, cookies, query_token
    ):
        return Refusal(
            401,
            "an access token is required: open the URL with ?token=... that "
            "`w2t-bkin server start` printed, or send 'Authorization: Bearer <token>'",
        )
    if method.upper() not in SAFE_METHODS:
        if not _same(headers.get(CSRF_HEADER, ""), policy.csrf_token):
            return Refusal(
                403,
                "missing or wrong X-CSRF-Token header: use the dashboard's forms, or read the "
                "token from GET /api/info",
            )
        origin = headers.get("origin")
        if origin is not None and origin != "null" and urlsplit(origin).netloc != host:
            return Refusal(403, f"cross-origin request from {origin!r} refused")
    return None


def _has_token(
    token: str, headers: dict[str, str], cookies: dict[str, str], query_token: str | None
) -> bool:
    auth = headers.get("authorization", "")
    bearer = auth[7:] if auth.lower().startswith("bearer ") else ""
    return any(
        _same(given, token) for given in (bearer, cookies.get(TOKEN_COOKIE, ""), query_token or "")
    )


def _same(given: str, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


def _hostname(host_header: str) -> str:
    """The name in a ``Host`` header, without the port (``[::1]:4200`` -> ``::1``)."""
    if host_header.startswith("["):
        return host_header[1:].partition("]")[0]
    return host_header.rpartition(":")[0] if host_header.count(":") == 1 else host_header
