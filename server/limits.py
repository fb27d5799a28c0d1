"""What every request passes before the routes see it (a pure ASGI middleware, so nothing has
read the body yet): the body-size limit, the token on state changes, and cross-site requests.

* **Body size**: a ``Content-Length`` over ``max_upload_mb`` is refused (413) before anything
  is read, and so is a body that turns out longer while it is read (the bytes received are
  counted, whatever the headers said); ``Content-Length`` together with ``Transfer-Encoding``
  is refused (400: a request-smuggling shape), a chunked body without a length too (411).
* **Token**: with a token configured, a state-changing request (POST, PUT, PATCH, DELETE)
  without it is refused (401) before its body is read.
* **Cross-site**: a state-changing request that a page of another site could make a browser
  send — an ``Origin`` that is neither this server nor one of ``cors_origins``, or a form or
  plain-text body (the content types a page may post without asking) — is refused (403, 415).
  Clients that are not browsers send no ``Origin`` and are not affected.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from syncpose.config import ServerConfig
from syncpose.server.auth import WRONG_TOKEN, bearer, origin_allowed, token_ok

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Content types a page of any site may POST without a preflight (the CORS "simple" ones).
SIMPLE_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"})


class RequestGuard:
    """The checks above, in front of ``app``."""

    def __init__(self, app: ASGIApp, settings: ServerConfig) -> None:
        self.app = app
        self.settings = settings
        self.limit = int(settings.max_upload_mb * 1024 * 1024)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        refusal = self._refusal(scope["method"], headers)
        if refusal is not None:
            await _answer(send, *refusal)
            return
        received = 0
        started = refused = False

        async def counted() -> Message:
            """The client's body, counted; past the limit, the 413 goes out and the app is told
            the client has gone (whatever it answers then is not sent)."""
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    if not started and not refused:
                        refused = True
                        await _answer(send, 413, self._over_limit())
                    return {"type": "http.disconnect"}
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counted, tracked)

    def _over_limit(self) -> str:
        return f"request body over the {self.settings.max_upload_mb:g} MB limit"

    def _refusal(self, method: str, headers: dict[str, str]) -> tuple[int, str] | None:
        length = headers.get("content-length")
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        if length is not None and chunked:
            return 400, "Content-Length together with Transfer-Encoding is not accepted"
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            return 413, self._over_limit()
        if length is None and chunked:
            return 411, "chunked request bodies are not accepted; send Content-Length"
        if method not in STATE_CHANGING:
            return None
        if not token_ok(self.settings, bearer(headers.get("authorization"))):
            return 401, WRONG_TOKEN
        if not origin_allowed(headers.get("origin"), headers.get("host"), self.settings):
            return 403, "cross-site request refused (Origin not allowed; see server.cors_origins)"
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type in SIMPLE_TYPES:
            return 415, f"{content_type} bodies are not accepted: send application/json"
        return None


async def _answer(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
