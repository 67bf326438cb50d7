"""The LLM boundary: an OpenAI-compatible chat-completions client, its protocol and a test double.

``complete`` sends one request and returns the response body, or raises ``LlmError``
whose ``kind`` says whether trying again may help (the same ``ErrorKind`` as tool
calls): timeouts, lost connections, 429 and 5xx are retryable; other 4xx answers and
bodies that are not JSON are not. Retrying is the planner's business, not the client's.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from models import ErrorKind

__all__ = ["ChatClient", "HandlerChatClient", "HttpChatClient", "LlmError", "retry_after_s"]

# Characters of an error body kept in a message: enough for an API's error object.
_BODY_EXCERPT = 300


class LlmError(Exception):
    """A chat-completion request that gave no usable response body."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        self.kind = kind
        self.status = status
        self.retry_after_s = retry_after_s
        super().__init__(message)


class ChatClient(Protocol):
    async def complete(self, request: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """POST ``request`` to ``/chat/completions``; the decoded body, or LlmError."""
        ...

    async def aclose(self) -> None: ...


def retry_after_s(value: str | None, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (delta-seconds or an HTTP date)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _excerpt(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:_BODY_EXCERPT] + ("..." if len(text) > _BODY_EXCERPT else "")


def _status_error(response: httpx.Response) -> LlmError:
    status = response.status_code
    wait = retry_after_s(response.headers.get("retry-after"))
    detail = f"HTTP {status} from {response.request.url}: {_excerpt(response)}"
    if status == 429:
        return LlmError(ErrorKind.TRANSIENT, f"rate limited: {detail}", status=status,
                        retry_after_s=wait)  # fmt: skip
    if status in (408, 409) or status >= 500:
        return LlmError(ErrorKind.TRANSIENT, detail, status=status, retry_after_s=wait)
    hint = ""
    if status in (401, 403):
        hint = " (check TOOLWISE_LLM_API_KEY)"
    elif status == 404:
        hint = " (check TOOLWISE_LLM_BASE_URL: it should end in /v1 for most servers)"
    return LlmError(ErrorKind.TOOL_ERROR, detail + hint, status=status)


class HttpChatClient:
    """``POST {base_url}/chat/completions`` over one pooled ``httpx.AsyncClient``.

    ``transport`` replaces the network (``httpx.MockTransport`` in tests).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/") + "/"
        self._http = httpx.AsyncClient(base_url=self.base_url, headers=headers, transport=transport)

    async def complete(self, request: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        try:
            response = await self._http.post(
                "chat/completions", json=request, timeout=httpx.Timeout(timeout_s)
            )
        except httpx.TimeoutException as exc:
            raise LlmError(
                ErrorKind.TIMEOUT, f"no response from {self.base_url} within {timeout_s:g} s"
            ) from exc
        except httpx.TransportError as exc:
            raise LlmError(
                ErrorKind.CONNECTION, f"cannot reach {self.base_url}: {type(exc).__name__}: {exc}"
            ) from exc
        if response.status_code != 200:
            raise _status_error(response)
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise LlmError(
                ErrorKind.TOOL_ERROR,
                f"the response body is not JSON: {_excerpt(response)}",
                status=200,
            ) from None
        if not isinstance(body, dict):
            raise LlmError(ErrorKind.TOOL_ERROR, f"the response body is a {type(body).__name__}")
        return body

    async def aclose(self) -> None:
        await self._http.aclose()


ChatHandler = Callable[[dict[str, Any], float], Awaitable[dict[str, Any]]]
"""``async (request, timeout_s) -> response body``; raise LlmError to fail the request."""


@dataclass
class HandlerChatClient:
    """A ChatClient whose requests go to ``handler``; records every request sent."""

    handler: ChatHandler

    def __post_init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.closed = False

    async def complete(self, request: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        self.requests.append(request)
        return await self.handler(request, timeout_s)

    async def aclose(self) -> None:
        self.closed = True
