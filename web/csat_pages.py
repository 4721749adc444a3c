"""The public CSAT survey page, `/csat/{token}` (docs/concepts/csat.md).

No sign-in: the unguessable token in the link is the customer's key to one survey, so the page
needs no cookie and no CSRF token, and works from any channel's link, in any browser. It
speaks the customer's language (the contact's, else the browser's), works without JavaScript,
and answers are rate-limited per token.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from channels.webchat.language import customer_language
from inbox.clock import utcnow
from inbox.csat import CHANGE_WITHIN, MAX_COMMENT, RATINGS, can_answer, do_answer_survey
from inbox.csat import survey_by_token as find_survey
from inbox.errors import Conflict, HandoffError, InvalidInput, NotFound
from inbox.models import Agent, Contact, Conversation, CsatResponse

from .i18n import N_, gettext, text_direction
from .state import state

ANSWER_LIMIT = "10/minute"
HEADERS = {"cache-control": "no-store", "x-robots-tag": "noindex"}
RATING_LABELS = {
    1: N_("Very poor"),
    2: N_("Poor"),
    3: N_("Okay"),
    4: N_("Good"),
    5: N_("Excellent"),
}


def rating_choices() -> list[tuple[int, str]]:
    """(rating, its label untranslated): templates translate the label with `_()`."""
    return [(n, RATING_LABELS[n]) for n in RATINGS]


def _contact_language(session: Session, token: str) -> str | None:
    try:
        survey = find_survey(session, token)
    except NotFound:
        return None
    conversation = session.get(Conversation, survey.conversation_id)
    contact = session.get(Contact, conversation.contact_id) if conversation else None
    return contact.language if contact else None


def _helper_name(session: Session, survey: CsatResponse) -> str:
    """The first name of who helped, as the widget signs replies; empty when nobody did."""
    conversation = session.get(Conversation, survey.conversation_id)
    agent = (
        session.get(Agent, conversation.assignee_id)
        if conversation and conversation.assignee_id
        else None
    )
    parts = agent.name.split() if agent else []
    return parts[0] if parts else ""


def _render(
    request: Request, locale: str, state_name: str, status_code: int = 200, **context: Any
) -> Response:
    return state(request).templates.TemplateResponse(
        request,
        "csat/survey.html",
        {
            "state": state_name,
            "locale": locale,
            "direction": text_direction(locale),
            "ratings": rating_choices(),
            "max_comment": MAX_COMMENT,
            "change_days": CHANGE_WITHIN.days,
            **context,
        },
        status_code=status_code,
        headers=HEADERS,
    )


def survey_problem(exc: HandoffError, survey: CsatResponse) -> str:
    """The domain's refusal in the customer's words and language."""
    if isinstance(exc, InvalidInput) and (exc.detail or {}).get("field") == "comment":
        return gettext("Your comment is too long: %(n)s characters at most.") % {
            "n": f"{MAX_COMMENT:,}"
        }
    if isinstance(exc, InvalidInput):
        return gettext("Please choose a rating from 1 to 5.")
    if isinstance(exc, Conflict) and survey.rating is not None:
        return gettext("Thank you, we already have your answer.")
    if isinstance(exc, Conflict):
        return gettext("This survey has closed.")
    return exc.message  # a rate limit: already in their language


def _preselected(raw: str | None) -> int | None:
    # A link may carry ?rating=5 (a one-click answer from an email): the choice is shown
    # selected and still has to be sent, so a mail scanner following links answers nothing.
    return int(raw) if raw and raw.isdigit() and int(raw) in RATINGS else None


async def survey_page(request: Request) -> Response:
    app = state(request)
    token = request.path_params["token"]
    with app.db.session() as session:
        stored = _contact_language(session, token)
        with customer_language(request.headers.get("accept-language"), stored) as locale:
            try:
                survey = find_survey(session, token)
            except NotFound:
                return _render(request, locale, "unknown", 404)
            context: dict[str, Any] = {"survey": survey, "helper": _helper_name(session, survey)}
            if not can_answer(survey, utcnow()):
                return _render(request, locale, "closed", **context)
            chosen = _preselected(request.query_params.get("rating")) or survey.rating
            return _render(request, locale, "form", chosen=chosen, **context)


async def answer_survey(request: Request) -> Response:
    app = state(request)
    token = request.path_params["token"]
    form = await request.form(max_files=0, max_fields=10)
    with app.db.session() as session:
        stored = _contact_language(session, token)
        with customer_language(request.headers.get("accept-language"), stored) as locale:
            try:
                survey = find_survey(session, token)
            except NotFound:
                return _render(request, locale, "unknown", 404)
            context: dict[str, Any] = {"survey": survey, "helper": _helper_name(session, survey)}
            rating, comment = form.get("rating"), form.get("comment")
            try:
                app.limits.hit(
                    ANSWER_LIMIT,
                    "csat",
                    token,
                    message=gettext("Too many answers at once. Please wait a minute."),
                )
                do_answer_survey(session=session, survey=survey, rating=rating, comment=comment)
            except HandoffError as exc:
                state_name = "closed" if isinstance(exc, Conflict) else "form"
                return _render(
                    request,
                    locale,
                    state_name,
                    exc.status_code,
                    error=survey_problem(exc, survey),
                    chosen=_preselected(rating if isinstance(rating, str) else None),
                    comment=comment if isinstance(comment, str) else "",
                    **context,
                )
            return _render(request, locale, "thanks", **context)


routes: list[BaseRoute] = [
    Route("/csat/{token}", survey_page, methods=["GET"]),
    Route("/csat/{token}", answer_survey, methods=["POST"]),
]
