"""What the JSON API reads from a request: the bearer token, a JSON body, typed fields
(docs/api.md#errors). Every mistake becomes a 4xx naming the field, never a 500."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from inbox.errors import Forbidden, HandoffError, InvalidInput, Unauthorized

from .state import AgentContext, AppState, state

log = logging.getLogger("handoff.api")

MAX_BODY = 1024 * 1024


class MalformedBody(HandoffError):
    status_code = 400
    code = "malformed"


class BodyTooLarge(HandoffError):
    status_code = 413
    code = "too_large"


def bearer_token(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "Missing API token",
            "send the header Authorization: Bearer <token> (handoff create-token)",
        )
    return token.strip()


# After the request that found its token's entry half-expired, long enough for its answer and
# its frames to have gone out first.
REFRESH_AFTER = 0.02


@contextmanager
def api_agent(request: Request) -> Iterator[AgentContext]:
    """A session plus the token's agent and what they may see; Unauthorized otherwise."""
    token = bearer_token(request)
    app_state = state(request)
    with app_state.db.session() as session:
        agent, scope = app_state.token_scopes.resolve(session, token, attach=False)
        yield AgentContext(session, agent, scope)
    stale = app_state.token_scopes.stale()
    if stale:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a route run in a worker thread: no loop to wait on, so now
            _refresh_tokens(app_state, stale)
        else:
            loop.call_later(REFRESH_AFTER, _refresh_tokens, app_state, stale)


def _refresh_tokens(app_state: AppState, tokens: list[str]) -> None:
    """On the loop, between requests, like any route's queries (inbox/token_scopes.py)."""
    try:
        with app_state.db.session() as session:
            for token in tokens:
                app_state.token_scopes.refresh(session, token)
    except Exception:  # the entries then expire as before; the next request reads them
        log.exception("refreshing %d API token(s) failed", len(tokens))


def path_id(request: Request) -> int:
    value: int = request.path_params["id"]
    return value


def require_admin(ctx: AgentContext, doing: str) -> None:
    if not ctx.scope.is_admin:
        raise Forbidden(f"Only admins can {doing}")


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The raw body, refused with 413 as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"Body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"Body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def json_body(request: Request, allowed: set[str], *, limit: int = MAX_BODY) -> Fields:
    """The body as a JSON object whose keys are all in `allowed`."""
    raw = await read_body(request, limit)
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        # RecursionError: a megabyte of `[[[[` is valid-looking but too deep to parse.
        raise MalformedBody("Body is not valid JSON", {"reason": str(exc)}) from exc
    if not isinstance(data, dict):
        raise MalformedBody("Body must be a JSON object")
    return Fields(data, allowed)


class Fields:
    """Typed access to a JSON object's fields; a wrong type is a 422 naming the field.

    `prefix` names nested objects in errors (`contact.identifier`).
    """

    def __init__(self, data: dict[str, Any], allowed: set[str], prefix: str = "") -> None:
        self.data = data
        self.prefix = prefix
        for key in data:
            if key not in allowed:
                raise InvalidInput(
                    f"unknown field {prefix}{key}; expected one of {', '.join(sorted(allowed))}",
                    {"field": prefix + key},
                )

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def _bad(self, key: str, expected: str) -> InvalidInput:
        return InvalidInput(f"{self.prefix}{key} must be {expected}", {"field": self.prefix + key})

    def _get(self, key: str, required: bool) -> Any:
        if key not in self.data or self.data[key] is None:
            if required:
                raise InvalidInput(f"{self.prefix}{key} is required", {"field": self.prefix + key})
            return None
        return self.data[key]

    def text(self, key: str, *, required: bool = False, max_length: int = 10_000) -> str | None:
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self._bad(key, "a string")
        if len(value) > max_length:
            raise self._bad(key, f"at most {max_length} characters")
        if required and not value.strip():
            raise InvalidInput(f"{self.prefix}{key} is empty", {"field": self.prefix + key})
        return value

    def required_text(self, key: str, *, max_length: int = 10_000) -> str:
        value = self.text(key, required=True, max_length=max_length)
        assert value is not None
        return value

    def choice(self, key: str, options: list[str]) -> str:
        value = self.required_text(key, max_length=64)
        if value not in options:
            raise self._bad(key, f"one of {', '.join(options)}")
        return value

    def integer(self, key: str, *, minimum: int = 0, maximum: int = 2**31 - 1) -> int | None:
        value = self._get(key, False)
        if value is None:
            return None
        # bool is an int to Python, but `true` is not a number to anyone writing JSON.
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._bad(key, "an integer")
        if not minimum <= value <= maximum:
            raise self._bad(key, f"between {minimum} and {maximum}")
        return value

    def boolean(self, key: str) -> bool | None:
        value = self._get(key, False)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise self._bad(key, "true or false")
        return value

    def strings(self, key: str) -> list[str] | None:
        value = self._get(key, False)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._bad(key, "a list of strings")
        return [v.strip() for v in value if v.strip()]

    def ids(self, key: str) -> list[int] | None:
        value = self._get(key, False)
        if value is None:
            return None
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            raise self._bad(key, "a list of ids")
        return list(value)

    def obj(self, key: str, *, required: bool = False) -> dict[str, Any] | None:
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self._bad(key, "an object")
        return value

    def timestamp(self, key: str) -> datetime | None:
        """An ISO 8601 date and time; without an offset it is taken as UTC."""
        value = self.text(key, max_length=64)
        if value is None:
            return None
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as exc:
            raise self._bad(key, "an ISO 8601 date and time") from exc
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    def nested(self, key: str, allowed: set[str], *, required: bool = False) -> Fields | None:
        value = self.obj(key, required=required)
        if value is None:
            return None
        return Fields(value, allowed, prefix=f"{self.prefix}{key}.")


def query_int(request: Request, key: str) -> int | None:
    raw = request.query_params.get(key, "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise InvalidInput(f"{key} must be an integer", {"field": key}) from exc


def query_bool(request: Request, key: str) -> bool | None:
    raw = request.query_params.get(key, "").strip().lower()
    if not raw:
        return None
    if raw in ("1", "true", "yes"):
        return True
    if raw in ("0", "false", "no"):
        return False
    raise InvalidInput(f"{key} must be true or false", {"field": key})


def query_limit(request: Request, default: int) -> int:
    limit = query_int(request, "limit")
    if limit is None:
        return default
    if not 1 <= limit <= 100:
        raise InvalidInput("limit must be between 1 and 100", {"field": "limit"})
    return limit
