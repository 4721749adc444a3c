"""Sign in and out. Sessions are Starlette's signed cookie; passwords are Argon2 hashes."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from inbox.accounts import authenticate
from inbox.errors import HandoffError, InvalidInput, Unauthorized
from web.i18n import available_locales, gettext

from .security import own_origin
from .state import signed_in, state

log = logging.getLogger("handoff.auth")


def safe_next(target: str | None) -> str:
    """Only same-site paths: a login link must not bounce agents to another site."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/inbox"


async def login_page(request: Request) -> Response:
    return state(request).templates.TemplateResponse(
        request, "login.html", {"next": safe_next(request.query_params.get("next")), "error": None}
    )


async def login(request: Request) -> Response:
    app = state(request)
    # No session yet, so no CSRF token to check: a form on another site could still sign a
    # victim in to the attacker's account (login CSRF). Browsers name the page a POST comes
    # from; one from elsewhere is refused. Without the header (a script, an old browser) the
    # password alone decides, as the CSRF check's own rule for cookie-less requests does.
    if "origin" in request.headers and not own_origin(request.headers, app.settings):
        log.warning("sign-in refused: Origin %s", request.headers["origin"])
        return app.templates.TemplateResponse(
            request,
            "login.html",
            {"next": "/", "error": gettext("Sign in from Handoff's own sign-in page.")},
            status_code=403,
        )
    form = await request.form()
    email = str(form.get("email", "")).strip().lower()
    password = str(form.get("password", ""))
    client = request.client.host if request.client else "unknown"
    try:
        app.limits.hit(
            app.settings.login_rate_limit,
            "login",
            client,
            email,
            message=gettext("Too many sign-in attempts. Wait a minute and try again."),
        )
        with app.db.session() as session:
            agent = authenticate(session, email, password)
    except HandoffError as exc:
        # The domain words its errors in English; this one is shown to the person signing in.
        error = gettext("Wrong email or password") if isinstance(exc, Unauthorized) else exc.message
        return app.templates.TemplateResponse(
            request,
            "login.html",
            {"next": safe_next(str(form.get("next", ""))), "error": error, "email": email},
            status_code=exc.status_code,
        )
    request.session.clear()
    request.session["agent_id"] = agent.id
    request.session["epoch"] = agent.session_epoch
    request.session["locale"] = agent.locale
    target = safe_next(str(form.get("next", "")))
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


async def logout(request: Request) -> Response:
    request.session.clear()
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": "/login"})
    return RedirectResponse("/login", status_code=303)


async def set_language(request: Request) -> Response:
    form = await request.form()
    locale = str(form.get("locale", ""))
    if locale not in available_locales():
        raise InvalidInput(f"unknown language {locale!r}")
    with signed_in(request) as ctx:
        ctx.agent.locale = locale
        ctx.session.add(ctx.agent)
        ctx.session.commit()
    request.session["locale"] = locale
    return Response(status_code=204, headers={"HX-Refresh": "true"})


routes = [
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/me/language", set_language, methods=["POST"]),
]
