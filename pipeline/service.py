"""The chat service: FastAPI over the handbook agent.

`POST /chat` answers a turn, `POST /chat/stream` streams it as server-sent events,
`GET /` is a one-file chat page (no build step), `GET /healthz` says the process is up.

Bad input never reaches the model and never produces a traceback: empty question,
oversized message or conversation (or body, declared or chunked), text that is not valid
Unicode, a non-string session id and malformed JSON each get a 4xx whose message says
what to fix. Error bodies and logs never echo what the client sent (it may hold the very
secrets spanguard exists to keep out of logs). A failing model provider (or embedding
provider) gives a 502 naming the model and error type; any other failure of a turn gives
a 500 naming only the error type. Either way the AGENT span records the exception and
the service keeps serving.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spanguard.errors import SpanguardError
from spanguard.pipeline.agent import AgentError, latest_question
from spanguard.pipeline.runtime import PipelineRuntime

_log = logging.getLogger("spanguard.pipeline.service")
# Whole request bodies above this are refused before JSON parsing.
MAX_BODY_BYTES = 2 * 1000**2
_TOO_LARGE = f"the request body is larger than {MAX_BODY_BYTES} bytes"
_NOT_UNICODE = "is not valid Unicode text (it holds a lone surrogate)"


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant"]
    content: StrictStr


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    messages: list[ChatMessage] = Field(min_length=1)
    session_id: StrictStr | None = Field(default=None, min_length=1, max_length=200)
    user_id: StrictStr | None = Field(default=None, min_length=1, max_length=200)


def new_session_id() -> str:
    """`session_<unix ms>_<random>`: the same shape the chat page generates."""
    return f"session_{int(time.time() * 1000)}_{secrets.token_hex(4)}"


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": message})


def _describe_validation(exc: RequestValidationError) -> tuple[int, str]:
    """A 4xx and a message that names the field and the problem, never the value."""
    problems: list[str] = []
    for error in exc.errors():
        if error.get("type") == "json_invalid":
            return 400, "the request body is not valid JSON"
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "body"
        if error.get("type") == "model_attributes_type" and location == "body":
            return 400, (
                "the request body must be a JSON object with a 'messages' list, "
                "sent with Content-Type: application/json"
            )
        kind = error.get("type", "")
        if location.endswith("session_id") and kind in {"string_type", "str_type"}:
            problems.append("session_id must be a string")
        elif kind in {"string_type", "str_type"}:
            problems.append(f"{location} must be a string")
        elif kind == "string_unicode":
            problems.append(f"{location} {_NOT_UNICODE}")
        elif kind == "missing":
            problems.append(f"{location} is required")
        elif kind == "extra_forbidden":
            problems.append(f"{location} is not an accepted field")
        elif kind == "literal_error":
            problems.append(f"{location} must be 'user' or 'assistant'")
        elif kind == "list_type":
            problems.append(f"{location} must be a list")
        elif kind in {"model_type", "dict_type", "model_attributes_type"}:
            problems.append(f"{location} must be an object with 'role' and 'content'")
        elif kind in {"too_short", "string_too_short"}:
            problems.append(f"{location} must not be empty")
        elif kind in {"too_long", "string_too_long"}:
            problems.append(f"{location} is too long")
        else:
            problems.append(f"{location} is invalid")
    return 422, "; ".join(dict.fromkeys(problems)) or "invalid request"


def _is_unicode_text(text: str) -> bool:
    """False for text holding lone surrogates (JSON allows `\\ud800`; UTF-8 cannot encode
    it, so it would fail the response, the exporters and the model call alike)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_limits(request: ChatRequest, runtime: PipelineRuntime) -> JSONResponse | None:
    texts = {f"messages.{i}.content": m.content for i, m in enumerate(request.messages)}
    texts.update({"session_id": request.session_id or "", "user_id": request.user_id or ""})
    for location, text in texts.items():
        if not _is_unicode_text(text):
            return _error(422, f"{location} {_NOT_UNICODE}")
    limits = runtime.pipeline
    if len(request.messages) > limits.max_messages:
        return _error(
            413, f"the conversation has more than {limits.max_messages} messages; start a new conversation"
        )
    for index, message in enumerate(request.messages):
        if len(message.content) > limits.max_message_chars:
            return _error(
                413,
                f"messages.{index}.content is longer than {limits.max_message_chars} characters; shorten it",
            )
    try:
        latest_question([m.model_dump() for m in request.messages])
    except AgentError as exc:
        return _error(422, str(exc))
    return None


def _conversation(request: ChatRequest) -> list[dict[str, str]]:
    return [m.model_dump() for m in request.messages]


def _turn_failure(exc: Exception) -> tuple[int, str]:
    """Status and message for a turn that raised; logged by type (messages may hold input).

    AgentError (model provider failed, no answer within the steps) and SpanguardError
    (e.g. the embedding provider failed during search) are upstream's fault: 502 with
    their message, which names the model and error type only. Anything else is a bug:
    500 naming the error type, never its message or a traceback."""
    if isinstance(exc, SpanguardError):
        _log.warning("chat turn failed: %s", exc)
        return 502, str(exc)
    _log.error("chat turn failed unexpectedly (%s); the trace records the exception", type(exc).__name__)
    return 500, f"the turn failed unexpectedly ({type(exc).__name__}); the trace records the error"


class BodyLimitMiddleware:
    """Refuse request bodies over `max_bytes`, whether declared (Content-Length) or sent
    chunked, without buffering more than the limit. Pure ASGI: a BaseHTTPMiddleware
    would only see the declared length."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await _error(413, _TOO_LARGE)(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI re-raises HTTPExceptions from body reading to the app's handler
                    raise StarletteHTTPException(413, detail=_TOO_LARGE)
            return message

        await self.app(scope, limited_receive, send)


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _static_page() -> str:
    return (resources.files("spanguard.pipeline") / "static" / "index.html").read_text(encoding="utf-8")


def create_app(runtime: PipelineRuntime, *, shutdown_runtime: bool = False) -> FastAPI:
    """The app for `runtime`; with `shutdown_runtime` the app flushes and stops tracing on exit."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if shutdown_runtime:
            runtime.shutdown()
        else:
            runtime.flush()

    app = FastAPI(title="spanguard chat", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.runtime = runtime

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        status, message = _describe_validation(exc)
        return _error(status, message)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        # 404, 405, 413 from the body limit: the same {"error": ...} shape as everything else
        return _error(exc.status_code, str(exc.detail))

    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "model": runtime.pipeline.model}

    @app.get("/", response_class=HTMLResponse)
    async def index() -> HTMLResponse:
        return HTMLResponse(_static_page())

    @app.post("/chat", response_model=None)
    async def chat(request: ChatRequest) -> JSONResponse | dict[str, Any]:
        refused = _check_limits(request, runtime)
        if refused is not None:
            return refused
        session_id = request.session_id or new_session_id()
        try:
            result = await runtime.agent.arun(
                _conversation(request), session_id=session_id, user_id=request.user_id
            )
        except Exception as exc:  # the AGENT span has recorded it; the service keeps serving
            status, message = _turn_failure(exc)
            return JSONResponse(status_code=status, content={"error": message, "session_id": session_id})
        return {"messages": result.messages, "session_id": session_id}

    @app.post("/chat/stream", response_model=None)
    async def chat_stream(request: ChatRequest) -> JSONResponse | StreamingResponse:
        refused = _check_limits(request, runtime)
        if refused is not None:
            return refused
        session_id = request.session_id or new_session_id()
        conversation = _conversation(request)

        async def events() -> AsyncIterator[str]:
            yield _sse("session", {"session_id": session_id})
            try:
                async for event in runtime.agent.astream(
                    conversation, session_id=session_id, user_id=request.user_id
                ):
                    if event.type == "delta":
                        yield _sse("delta", {"text": event.text})
                    elif event.type == "tool":
                        yield _sse("tool", {"name": event.text})
                    elif event.result is not None:
                        yield _sse("done", {"messages": event.result.messages, "session_id": session_id})
            except Exception as exc:  # headers are already sent: the failure is the last event
                _, message = _turn_failure(exc)
                yield _sse("error", {"error": message, "session_id": session_id})

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return app
