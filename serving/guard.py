"""ASGI middleware in front of the API: bearer-token auth, a request-size limit, and one error format.

Health, metrics and docs routes stay open; every other route needs `Authorization: Bearer
<token>` when a token is configured (401 otherwise). A POST body must be JSON (400 otherwise:
BentoML answers other content types with a 500). Bodies above `max_body_bytes` get 413 before
the service sees them (by Content-Length, or by reading a chunked body up to the limit).

A body that does not fit its request model is refused by BentoML before the service sees it, with
{"error": "1 validation error for ...", "detail": [...]}; its "error" becomes the one line
`training.requests.describe` gives every refusal (`plan[0].ramp_week: unknown field; did you mean
ramp_weeks?`), and each problem in the detail gets the same line as its "message".
"""

from __future__ import annotations

import hmac
import json

from training.requests import describe

OPEN_PATHS = ("/healthz", "/livez", "/readyz", "/metrics", "/docs", "/docs.json", "/", "/schema.json")


class Guard:
    def __init__(self, app, token: str | None = None, max_body_bytes: int = 1_000_000):
        self.app = app
        self.token = token or None
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS or scope["path"].startswith("/static"):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        if self.token is not None:
            given = headers.get(b"authorization", b"").decode("latin-1")
            if not hmac.compare_digest(given, f"Bearer {self.token}"):
                return await _reply(send, 401, "missing or wrong bearer token (set the Authorization header)",
                                    [(b"www-authenticate", b"Bearer")])
        kind = headers.get(b"content-type")
        if scope["method"] == "POST" and kind is not None and not kind.lower().startswith(b"application/json"):
            return await _reply(send, 400, f"Content-Type must be application/json, not {kind.decode('latin-1')!r}")
        length = headers.get(b"content-length")
        if length is not None:
            try:
                too_big = int(length) > self.max_body_bytes
            except ValueError:
                return await _reply(send, 400, "Content-Length is not a number")
            if too_big:
                return await _reply(send, 413, f"request body of {int(length)} bytes is over the limit of "
                                                f"{self.max_body_bytes} bytes")
            return await self.app(scope, receive, _one_error_format(send))
        body = bytearray()                      # no Content-Length (chunked): read up to the limit first
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                return await _reply(send, 413, f"request body is over the limit of {self.max_body_bytes} bytes")
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        return await self.app(scope, replay, _one_error_format(send))


def _one_error_format(send):
    """`send`, with a validation 400's "error" rewritten as the field's path and the problem."""
    held: dict = {}

    async def sending(message):
        if message["type"] == "http.response.start" and message["status"] == 400:
            held["start"], held["body"] = message, b""
            return
        if "start" not in held:
            return await send(message)
        held["body"] += message.get("body", b"")
        if message.get("more_body", False):
            return
        body = held["body"]
        try:
            answer = json.loads(body)
            if isinstance(answer, dict) and isinstance(answer.get("detail"), list) and answer["detail"]:
                for problem in answer["detail"]:
                    problem["message"] = describe(problem)
                answer["error"] = "; ".join(problem["message"] for problem in answer["detail"][:3])
                body = json.dumps(answer).encode()
        except ValueError:
            pass
        headers = [(k, v) for k, v in held["start"].get("headers", []) if k.lower() != b"content-length"]
        await send({**held["start"], "headers": [*headers, (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    return sending


async def _reply(send, status: int, message: str, extra_headers: list | None = None) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(extra_headers or [])]})
    await send({"type": "http.response.body", "body": body})
