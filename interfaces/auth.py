"""The web port's bearer token: every request carries it when ``settings.web_token`` is set.

Browsers cannot add a header to the dashboard's page load or its event stream, so
``/dashboard?token=<token>`` also sets it as an HttpOnly cookie that later requests carry.
"""

from __future__ import annotations

import hmac
import json
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

COOKIE = "toolwise_token"


class BearerAuth:
    """ASGI middleware: 401 (JSON) unless the request carries the token."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self._token = token.encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._token is None or self._carries_token(scope):
            await self.app(scope, receive, send)
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        given = query.get("token", [""])[0].encode()
        if scope["path"] == "/dashboard" and hmac.compare_digest(given, self._token):
            await _redirect_with_cookie(send, self._token.decode())
            return
        await _unauthorized(send)

    def _carries_token(self, scope: Scope) -> bool:
        headers = dict(scope.get("headers", []))
        authorization = headers.get(b"authorization", b"")
        scheme, _, value = authorization.partition(b" ")
        if scheme.lower() == b"bearer" and hmac.compare_digest(value.strip(), self._token or b""):
            return True
        cookie = SimpleCookie(headers.get(b"cookie", b"").decode("latin-1"))
        morsel = cookie.get(COOKIE)
        return morsel is not None and hmac.compare_digest(morsel.value.encode(), self._token or b"")


async def _unauthorized(send: Send) -> None:
    body = json.dumps(
        {
            "error": "this worker's web port needs its token: send 'Authorization: Bearer "
            "<TOOLWISE_WEB_TOKEN>' (a browser: open /dashboard?token=<TOOLWISE_WEB_TOKEN>)",
            "status": 401,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"www-authenticate", b'Bearer realm="toolwise"'),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _redirect_with_cookie(send: Send, token: str) -> None:
    cookie = f"{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/"
    await send(
        {
            "type": "http.response.start",
            "status": 303,
            "headers": [
                (b"location", b"/dashboard"),
                (b"set-cookie", cookie.encode("latin-1")),
                (b"content-length", b"0"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b""})
