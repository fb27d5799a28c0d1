"""Who may do what: the API token (``Authorization: Bearer <token>``, or ``?token=`` where a
header cannot be sent: WebSockets, download links) and the origins a browser may call from."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from syncpose.config import ServerConfig

WRONG_TOKEN = "missing or wrong API token (Authorization: Bearer <token>, or ?token=)"


def bearer(header: str | None) -> str:
    """The token of an ``Authorization: Bearer …`` header ('' without one)."""
    return header[7:] if header and header.lower().startswith("bearer ") else ""


def token_ok(settings: ServerConfig, given: str | None) -> bool:
    """Whether ``given`` is the configured token (always, when none is configured)."""
    if settings.token is None:
        return True
    return secrets.compare_digest((given or "").encode(), settings.token.encode())


def origin_allowed(origin: str | None, host: str | None, settings: ServerConfig) -> bool:
    """Whether a request with this ``Origin`` header, sent to ``host``, may act: no ``Origin``
    (not a browser), this very server, or one of ``cors_origins``."""
    if origin is None:
        return True
    if host is not None and urlsplit(origin).netloc.lower() == host.lower():
        return True
    return origin in settings.cors_origins
