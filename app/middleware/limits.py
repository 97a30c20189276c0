"""Refuse request bodies over a size limit before they are parsed or spooled to disk.

A declared Content-Length over the limit is answered 413 at once; a body without one (chunked)
is counted as it arrives and cut off at the limit. The route checks the image part's exact size
against `max_upload_bytes`; this middleware only guarantees nobody streams gigabytes at us.
"""
from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import body

# Room for the form's text fields and the multipart boundaries around the image.
FORM_SLACK = 64 * 1024


class BodyTooLarge(Exception):
    """Raised into the app when the streamed body passes the limit; answered 413 here."""


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, per_path: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.per_path = per_path or {}  # e.g. POST /batches, which carries several images

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope["path"], self.max_bytes)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _reply(send, declared, limit)
            return

        received = 0
        exceeded = False
        replied = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                raise BodyTooLarge()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            # Once the body overflowed, whatever the app answers (a parse error, usually) is
            # replaced by our 413.
            nonlocal replied
            if exceeded:
                if not replied:
                    replied = True
                    await _reply(send, received, limit)
                return
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLarge:
            if not replied:
                replied = True
                await _reply(send, received, limit)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _reply(send: Send, size: int, limit: int) -> None:
    content = body(f"request body of {size}+ bytes exceeds the limit of {limit} bytes", "upload_too_large")
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(content)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": content})
