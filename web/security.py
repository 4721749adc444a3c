"""Headers and CSRF (docs/concepts/security.md)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette_csrf.middleware import CSRFMiddleware

from inbox.settings import Settings

SESSION_COOKIE = "handoff_session"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'self'"
)
# The widget's frame is embedded by customers' sites, so any site may frame it.
WIDGET_CSP = CSP.replace("frame-ancestors 'self'", "frame-ancestors *")


class SecurityHeaders:
    """A Content-Security-Policy and friends on every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        csp = WIDGET_CSP if path.startswith("/widget/") else CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", csp.encode()))
                if b"x-content-type-options" not in names:  # a download route sets its own
                    headers.append((b"x-content-type-options", b"nosniff"))
                headers.append((b"referrer-policy", b"same-origin"))
                if not path.startswith("/widget/"):
                    headers.append((b"x-frame-options", b"SAMEORIGIN"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def own_origin(headers: Headers, settings: Settings) -> bool:
    """Whether the request's `Origin` is Handoff's own address: the `Host` it was sent to,
    HANDOFF_PUBLIC_URL (a proxy may rewrite `Host`), or one of HANDOFF_ALLOWED_ORIGINS."""
    origin = headers.get("origin")
    if origin is None:
        return False
    host = headers.get("host", "")
    if origin in (f"http://{host}", f"https://{host}") or origin in settings.allowed_origins:
        return True
    public = urlsplit(settings.public_url or "")
    return bool(public.netloc) and origin == f"{public.scheme}://{public.netloc}"


# Authenticated by a bearer token, a provider's signature or a visitor token: no cookie.
CSRF_EXEMPT = re.compile(r"^/(api|webhooks|widget|csat|media)/")


class HttpCSRF:
    """starlette-csrf for HTTP only (it does not expect websocket scopes).

    Only requests that carry the session cookie are checked: bearer-token API calls,
    provider webhooks and the widget carry none, so they need no token.
    """

    def __init__(self, app: ASGIApp, secret: str, secure: bool) -> None:
        self.app = app
        self.csrf = CSRFMiddleware(
            app,
            secret=secret,
            sensitive_cookies={SESSION_COOKIE},
            exempt_urls=[CSRF_EXEMPT],
            cookie_secure=secure,
            cookie_samesite="lax",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Exempt paths skip the middleware entirely: it would sign a fresh CSRF cookie for
        # every API call and webhook, which no browser form will ever send back.
        if scope["type"] == "http" and not CSRF_EXEMPT.match(scope["path"]):
            await self.csrf(scope, receive, send)
        else:
            await self.app(scope, receive, send)
