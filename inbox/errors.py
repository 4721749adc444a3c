"""One error tree for the domain; the web edge turns each into HTML, JSON or a close code."""

from __future__ import annotations

from typing import Any


class HandoffError(Exception):
    """Base of every error the domain raises on purpose."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


def N_(message: str) -> str:
    """Marks a message for `make messages`; a page translates it by value (web/i18n.gettext),
    so such a message carries no interpolated values."""
    return message


class NotFound(HandoffError):
    status_code = 404
    code = "not_found"


class Forbidden(HandoffError):
    status_code = 403
    code = "forbidden"


class Unauthorized(HandoffError):
    status_code = 401
    code = "unauthorized"


class InvalidInput(HandoffError):
    status_code = 422
    code = "invalid"


class Conflict(HandoffError):
    status_code = 409
    code = "conflict"


class RateLimited(HandoffError):
    status_code = 429
    code = "rate_limited"
