"""The widget's HTTP and websocket endpoints under /widget/ (docs/channels/webchat.md).

- `GET /widget/{token}.js`: the loader a site embeds; it adds the bubble and the frame.
- `GET /widget/{token}/frame`: the chat itself, a page on our origin in the customer's language.
- `POST /widget/{token}/conversations`: the pre-chat form and first message; answers the
  signed visitor token the frame keeps.
- `GET` and `POST /widget/{token}/messages` with `X-Visitor-Token`: the visitor's thread. A
  message is JSON, or multipart with `files` parts when the customer attaches files (so is the
  first one, to /conversations).
- `POST /widget/{token}/csat` with `X-Visitor-Token`: the inline rating after a resolution
  (docs/concepts/csat.md).
- `GET /widget/{token}/attachments/{id}` with `X-Visitor-Token`: a file of the visitor's own
  thread, always as a download.
- `WS /widget/ws` (socket.py): replies as they are written.

Errors are JSON here whatever the Accept header, since only the frame's script reads them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from functools import cache, wraps
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from inbox.attachments import MAX_FILE, MAX_FILES, MAX_PER_MESSAGE
from inbox.clock import utcnow
from inbox.conversations import InboundMessage, do_receive_inbound
from inbox.csat import MAX_COMMENT, can_answer, do_answer_survey, latest_survey
from inbox.errors import HandoffError, InvalidInput, NotFound
from inbox.models import Attachment, Contact, Conversation, Inbox, Message, Status
from web.csat_pages import rating_choices, survey_problem
from web.downloads import download_headers
from web.i18n import current_locale, gettext, text_direction
from web.state import AppState, state
from web.uploads import File, files_of

from .files import MIB, check_customer_files, read_form
from .language import browser_language, customer_language, customer_locale
from .socket import widget_socket
from .thread import CUSTOMER_KINDS, customer_message, customer_messages
from .visitor import (
    Visitor,
    check_visitor,
    current_conversation,
    departments,
    new_identifier,
    sign_visitor,
    widget_inbox,
)

STATIC = Path(__file__).resolve().parent.parent.parent / "static" / "widget"
MAX_BODY = 64 * 1024
MAX_MESSAGE = 5_000
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
VISITOR_HEADER = "x-visitor-token"
# Private to one visitor: no shared cache may keep a copy.
NO_STORE = {"cache-control": "no-store"}

Endpoint = Callable[[Request], Awaitable[Response]]


class BodyTooLarge(HandoffError):
    status_code = 413
    code = "too_large"


def json_errors(endpoint: Endpoint) -> Endpoint:
    """The frame's script reads every answer as JSON, errors included."""

    @wraps(endpoint)
    async def wrapped(request: Request) -> Response:
        try:
            return await endpoint(request)
        except HandoffError as exc:
            return JSONResponse(
                {"error": exc.message, "code": exc.code, "detail": exc.detail},
                status_code=exc.status_code,
                headers=NO_STORE,
            )

    return wrapped


async def read_fields(request: Request) -> dict[str, Any]:
    """A JSON object or a form, read no further than MAX_BODY."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise BodyTooLarge(gettext("That is too much text to send at once."))
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_BODY:
            raise BodyTooLarge(gettext("That is too much text to send at once."))
    if "application/x-www-form-urlencoded" in request.headers.get("content-type", ""):
        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    try:
        fields = json.loads(body or b"{}")
    except (ValueError, RecursionError) as exc:
        raise HandoffError("The request body is not valid JSON") from exc
    if not isinstance(fields, dict):
        raise HandoffError("The request body must be a JSON object")
    return fields


async def read_message(request: Request) -> tuple[dict[str, Any], list[File]]:
    """A message's fields and files: JSON or a plain form as always, or multipart with files
    checked against the domain's limits before anything is stored."""
    if "multipart/form-data" not in request.headers.get("content-type", ""):
        return await read_fields(request), []
    form = await read_form(request)
    try:
        fields = {name: value for name, value in form.multi_items() if isinstance(value, str)}
        files = await files_of(form)
    finally:
        await form.close()
    check_customer_files(files)
    return fields, files


def text_field(fields: dict[str, Any], name: str) -> str:
    value = fields.get(name)
    return value.strip() if isinstance(value, str) else ""


def check_message(fields: dict[str, Any], files: list[File]) -> str:
    """The text of a message; it may be empty when files come with it."""
    content = text_field(fields, "content")
    if not content and not files:
        raise InvalidInput(gettext("Please write a message."), {"field": "content"})
    if len(content) > MAX_MESSAGE:
        raise InvalidInput(
            gettext("Your message is too long: %(n)s characters at most.")
            % {"n": f"{MAX_MESSAGE:,}"},
            {"field": "content"},
        )
    return content


def check_name(fields: dict[str, Any]) -> str:
    name = text_field(fields, "name")
    if not name or len(name) > 200:
        raise InvalidInput(gettext("Please tell us your name."), {"field": "name"})
    return name


def check_email(fields: dict[str, Any]) -> str:
    email = text_field(fields, "email")
    if len(email) > 320 or not EMAIL.match(email):
        raise InvalidInput(gettext("Please enter a valid email address."), {"field": "email"})
    return email


def check_department(session: Session, inbox: Inbox, raw: object) -> int | None:
    """One of the teams this widget offers, or None when the customer was not asked."""
    if raw is None or raw == "":
        return None
    offered = {t.id for t in departments(session, inbox)}
    text = str(raw).strip()
    team_id = int(text) if text.isdigit() and not isinstance(raw, bool) else None
    if team_id is None or team_id not in offered:
        raise InvalidInput(
            gettext("Please choose one of the options offered."), {"field": "department"}
        )
    return team_id


def too_fast() -> str:
    return gettext("You're sending messages too fast. Please wait a moment.")


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@cache
def loader_script() -> bytes:
    return (STATIC / "loader.js").read_bytes()


async def loader(request: Request) -> Response:
    with state(request).db.session() as session:
        try:
            widget_inbox(session, request.path_params["token"])
        except NotFound:
            return Response(
                "/* Handoff: no chat widget has this token. */\n",
                status_code=404,
                media_type="application/javascript",
            )
    return Response(
        loader_script(),
        media_type="application/javascript",
        headers={"cache-control": "public, max-age=300"},
    )


async def frame(request: Request) -> Response:
    app = state(request)
    with (
        customer_language(request.headers.get("accept-language")) as locale,
        app.db.session() as session,
    ):
        inbox = widget_inbox(session, request.path_params["token"])
        context = {
            "inbox": inbox,
            "greeting": str(inbox.config.get("greeting") or "").strip(),
            "departments": departments(session, inbox),
            "locale": locale,
            "direction": text_direction(locale),
            "max_message": MAX_MESSAGE,
            "ratings": rating_choices(),
            "max_comment": MAX_COMMENT,
            "max_files": MAX_FILES,
            "max_file": MAX_FILE,
            "max_upload": MAX_PER_MESSAGE,
            "mib": MIB,
        }
        return app.templates.TemplateResponse(request, "widget/frame.html", context)


@json_errors
async def start_conversation(request: Request) -> Response:
    app = state(request)
    with customer_language(request.headers.get("accept-language")), app.db.session() as session:
        inbox = widget_inbox(session, request.path_params["token"])
        assert inbox.id is not None
        app.limits.hit(
            app.settings.widget_rate_limit, "widget-start", client_ip(request), message=too_fast()
        )
        fields, files = await read_message(request)
        identifier = new_identifier()
        received = do_receive_inbound(
            session=session,
            inbound=InboundMessage(
                inbox_id=inbox.id,
                identifier=identifier,
                name=check_name(fields),
                email=check_email(fields),
                content=check_message(fields, files),
                team_id=check_department(session, inbox, fields.get("department")),
                language=browser_language(request.headers.get("accept-language")),
                attachments=files,
                match_email=False,
            ),
        )
        assert received.conversation.id is not None
        return JSONResponse(
            {
                "visitor_token": sign_visitor(app.settings.secret_key, inbox.id, identifier),
                "messages": customer_messages(session, received.conversation.id),
            },
            status_code=201,
            headers=NO_STORE,
        )


def visitor_of(request: Request, app: AppState, session: Session) -> Visitor:
    inbox = widget_inbox(session, request.path_params["token"])
    visitor = check_visitor(
        session, app.settings.secret_key, inbox, request.headers.get(VISITOR_HEADER)
    )
    contact = session.get(Contact, visitor.contact_id)
    # From here on, the contact's own language (kept since the chat began) wins.
    stored = contact.language if contact else None
    current_locale.set(customer_locale(request.headers.get("accept-language"), stored))
    return visitor


def csat_state(session: Session, conversation: Conversation | None) -> dict[str, Any] | None:
    """The rating the widget offers inline: the latest survey of a resolved conversation."""
    if conversation is None or conversation.id is None or conversation.status != Status.resolved:
        return None
    survey = latest_survey(session, conversation.id)
    if survey is None:
        return None
    return {
        "rating": survey.rating,
        "comment": survey.comment,
        "open": can_answer(survey, utcnow()),
    }


@json_errors
async def list_messages(request: Request) -> Response:
    app = state(request)
    with customer_language(request.headers.get("accept-language")), app.db.session() as session:
        visitor = visitor_of(request, app, session)
        conversation = current_conversation(session, visitor)
        messages = (
            customer_messages(session, conversation.id) if conversation and conversation.id else []
        )
        # Each visit renews the token, so a returning customer keeps their conversation.
        renewed = sign_visitor(app.settings.secret_key, visitor.inbox_id, visitor.identifier)
        return JSONResponse(
            {
                "visitor_token": renewed,
                "messages": messages,
                "csat": csat_state(session, conversation),
            },
            headers=NO_STORE,
        )


@json_errors
async def post_message(request: Request) -> Response:
    app = state(request)
    with customer_language(request.headers.get("accept-language")), app.db.session() as session:
        # Who and how often before the body: nobody uploads files to be refused afterwards.
        visitor = visitor_of(request, app, session)
        app.limits.hit(
            app.settings.widget_rate_limit, "widget-message", visitor.identifier, message=too_fast()
        )
        fields, files = await read_message(request)
        received = do_receive_inbound(
            session=session,
            inbound=InboundMessage(
                inbox_id=visitor.inbox_id,
                identifier=visitor.identifier,
                content=check_message(fields, files),
                attachments=files,
                match_email=False,
            ),
        )
        return JSONResponse(
            {
                "message": customer_message(session, received.message),
                # The frame reconnects its websocket to follow the new conversation.
                "new_conversation": received.new_conversation,
            },
            status_code=201,
            headers=NO_STORE,
        )


@json_errors
async def answer_csat(request: Request) -> Response:
    """The inline rating: `{"rating": 1-5, "comment": "..."}` for the visitor's latest
    resolved conversation. A second answer within a week replaces the first."""
    app = state(request)
    fields = await read_fields(request)
    with customer_language(request.headers.get("accept-language")), app.db.session() as session:
        visitor = visitor_of(request, app, session)
        app.limits.hit(
            app.settings.widget_rate_limit, "widget-csat", visitor.identifier, message=too_fast()
        )
        conversation = current_conversation(session, visitor)
        if csat_state(session, conversation) is None:
            raise NotFound(gettext("There is nothing to rate yet."))
        assert conversation is not None and conversation.id is not None
        survey = latest_survey(session, conversation.id)
        assert survey is not None
        try:
            do_answer_survey(
                session=session,
                survey=survey,
                rating=fields.get("rating"),
                comment=fields.get("comment", ""),
            )
        except HandoffError as exc:
            raise type(exc)(survey_problem(exc, survey), exc.detail) from exc
        return JSONResponse({"csat": csat_state(session, conversation)}, headers=NO_STORE)


def visitors_attachment(session: Session, visitor: Visitor, attachment_id: int) -> Attachment:
    """A file of a message the visitor can see in their own thread; NotFound for any other,
    the same answer whether it exists or not."""
    attachment = session.get(Attachment, attachment_id)
    message = session.get(Message, attachment.message_id) if attachment else None
    conversation = session.get(Conversation, message.conversation_id) if message else None
    if (
        attachment is None
        or message is None
        or message.kind not in CUSTOMER_KINDS
        or conversation is None
        or conversation.contact_id != visitor.contact_id
        or conversation.inbox_id != visitor.inbox_id
    ):
        raise NotFound(gettext("No such attachment"))
    return attachment


@json_errors
async def download_attachment(request: Request) -> Response:
    """Always as a download, never shown in our origin, like the agents' download
    (web/message_pages.py): a file could be HTML."""
    app = state(request)
    with customer_language(request.headers.get("accept-language")), app.db.session() as session:
        visitor = visitor_of(request, app, session)
        attachment = visitors_attachment(session, visitor, request.path_params["id"])
        filename = attachment.filename or "attachment"
        return Response(
            attachment.data,
            media_type="application/octet-stream",
            headers=download_headers(filename),
        )


routes: list[BaseRoute] = [
    WebSocketRoute("/widget/ws", widget_socket),
    Route("/widget/{token}.js", loader),
    Route("/widget/{token}/frame", frame),
    Route("/widget/{token}/conversations", start_conversation, methods=["POST"]),
    Route("/widget/{token}/messages", list_messages),
    Route("/widget/{token}/messages", post_message, methods=["POST"]),
    Route("/widget/{token}/csat", answer_csat, methods=["POST"]),
    Route("/widget/{token}/attachments/{id:int}", download_attachment),
]
