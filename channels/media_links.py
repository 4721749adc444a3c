"""Signed, expiring links to agents' files, for providers that fetch media themselves
(Twilio's MMS `MediaUrl`; docs/channels/twilio.md).

`signed_media_url(attachment_id)` names one attachment of an agent's reply at
`{HANDOFF_PUBLIC_URL}/media/{token}`; `GET /media/{token}` answers its bytes. The token is
signed with the app's secret key, so the link needs no sign-in and cannot be made up for
another file; it expires after a day, long enough for the provider's fetch at send time and
its retries. Only files of outgoing messages are served: a customer's file is never public.
"""

from __future__ import annotations

from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from inbox.errors import HandoffError, NotFound
from inbox.links import public_link
from inbox.models import Attachment, Message, MessageKind
from web.downloads import download_headers
from web.state import state

# Its own salt: a token signed for the widget or the session cannot pass for a media link.
SALT = "handoff-media-link"
MAX_AGE = 24 * 3600

_secret: str | None = None


class LinkExpired(HandoffError):
    """A media link that was genuine but is older than MAX_AGE."""

    status_code = 410
    code = "gone"


def set_link_secret(secret_key: str) -> None:
    """The app's secret key; create_app sets it, as it sets the public base."""
    global _secret
    _secret = secret_key


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=SALT)


def signed_media_url(attachment_id: int) -> str:
    """The public, expiring address of one of an agent's files."""
    if _secret is None:
        raise RuntimeError("media links need the app's secret key: call set_link_secret")
    token = _serializer(_secret).dumps(attachment_id)
    return public_link(f"/media/{token}")


def check_media_token(token: str, secret_key: str) -> int:
    """The attachment id a token names; NotFound when forged, LinkExpired when old."""
    try:
        attachment_id = _serializer(secret_key).loads(token, max_age=MAX_AGE)
    except SignatureExpired as exc:
        # itsdangerous checks the signature before the age: a forged token never gets here.
        raise LinkExpired("This media link has expired") from exc
    except BadData as exc:
        raise NotFound("No file at this media link") from exc
    if not isinstance(attachment_id, int):
        raise NotFound("No file at this media link")
    return attachment_id


def outgoing_attachment(session: Session, attachment_id: int) -> Attachment:
    """A file of an agent's reply; NotFound for any other, whether it exists or not."""
    attachment = session.get(Attachment, attachment_id)
    message = session.get(Message, attachment.message_id) if attachment else None
    if attachment is None or message is None or message.kind != MessageKind.outgoing:
        raise NotFound("No file at this media link")
    return attachment


async def serve_media(request: Request) -> Response:
    app = state(request)
    attachment_id = check_media_token(request.path_params["token"], app.settings.secret_key)
    with app.db.session() as session:
        attachment = outgoing_attachment(session, attachment_id)
        return Response(
            attachment.data,
            media_type=attachment.content_type,
            headers=download_headers(attachment.filename or "attachment"),
        )


routes: list[BaseRoute] = [Route("/media/{token}", serve_media)]
