"""The public CSAT survey page (docs/concepts/csat.md), as a customer's browser uses it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from markupsafe import escape
from sqlmodel import Session, col, select
from starlette.testclient import TestClient

from inbox.clock import utcnow
from inbox.conversations import do_assign, do_set_status
from inbox.models import CsatResponse
from tests.conftest import login
from tests.factories import World, build_world, customer_writes
from tests.web.test_languages import compiled_catalogs  # noqa: F401  (a fixture)

pytestmark = pytest.mark.usefixtures("compiled_catalogs")


def resolved_survey(
    session: Session,
    w: World,
    *,
    who: str = "ann",
    language: str | None = None,
    days_ago: float = 0,
) -> CsatResponse:
    got = customer_writes(session, w.webchat, "Where is my parcel?", who=who, team=w.support)
    if language:
        got.contact.language = language
        session.add(got.contact)
        session.commit()
    do_assign(session=session, conversation=got.conversation, assignee=w.dana, actor=w.dana)
    do_set_status(
        session=session,
        conversation=got.conversation,
        status="resolved",
        actor=w.dana,
        now=utcnow() - timedelta(days=days_ago),
    )
    survey = session.exec(
        select(CsatResponse)
        .where(CsatResponse.conversation_id == got.conversation.id)
        .order_by(col(CsatResponse.id).desc())
    ).first()
    assert survey is not None
    return survey


def stored(session: Session, survey: CsatResponse) -> CsatResponse:
    session.expire_all()
    found = session.get(CsatResponse, survey.id)
    assert found is not None
    return found


def test_the_link_opens_five_ratings_and_a_comment_box(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    survey = resolved_survey(session, w)
    page = app_client.get(f"/csat/{survey.token}")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert re.findall(r'<input type="radio" name="rating" value="(\d)"', page.text) == [
        "1",
        "2",
        "3",
        "4",
        "5",
    ]
    assert '<textarea name="comment"' in page.text and "How did we do?" in page.text
    # Who helped, by first name, as the widget signs replies.
    assert "the help you got from Dana?" in page.text
    assert "<script" not in page.text, "the page works without JavaScript"
    # A link may preselect a rating; it still has to be sent.
    preselected = app_client.get(f"/csat/{survey.token}?rating=4").text
    assert 'value="4" required checked' in preselected
    assert stored(session, survey).rating is None


def test_an_answer_is_stored_and_thanked_with_the_comment_escaped(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    survey = resolved_survey(session, w)
    comment = "<script>alert('x')</script> Slow & <b>rude</b>"
    thanks = app_client.post(f"/csat/{survey.token}", data={"rating": "2", "comment": comment})
    assert thanks.status_code == 200
    assert "Thank you!" in thanks.text and "You rated us 2 out of 5." in thanks.text
    assert str(escape(comment)) in thanks.text
    assert "<script>alert" not in thanks.text and "<b>rude" not in thanks.text
    answer = stored(session, survey)
    assert (answer.rating, answer.comment) == (2, comment)

    # Opened again within the week: the answer can be changed, the comment is kept escaped.
    again = app_client.get(f"/csat/{survey.token}").text
    assert "You answered 2 out of 5. Sending again replaces that answer." in again
    assert 'value="2" required checked' in again
    assert "&lt;script&gt;alert" in again and "<script>alert" not in again
    app_client.post(f"/csat/{survey.token}", data={"rating": "3", "comment": "Better now"})
    assert (stored(session, survey).rating, stored(session, survey).comment) == (3, "Better now")


def test_a_missing_rating_shows_the_form_again_with_the_comment_kept(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    survey = resolved_survey(session, w)
    refused = app_client.post(f"/csat/{survey.token}", data={"comment": "<i>hello</i>"})
    assert refused.status_code == 422
    assert "Please choose a rating from 1 to 5." in refused.text
    assert "&lt;i&gt;hello&lt;/i&gt;</textarea>" in refused.text
    assert stored(session, survey).rating is None


def test_the_page_speaks_the_customers_language(app_client: TestClient, session: Session) -> None:
    w = build_world(session)
    polish = resolved_survey(session, w, who="ola", language="pl")
    # The contact's language wins over the browser's.
    page = app_client.get(f"/csat/{polish.token}", headers={"accept-language": "ru"}).text
    assert '<html lang="pl" dir="ltr">' in page
    assert "Jak nam poszło?" in page and "How did we do?" not in page
    assert "Działa dzięki Handoff" in page  # Powered by Handoff
    refused = app_client.post(f"/csat/{polish.token}", data={"rating": "9"}).text
    assert "Wybierz ocenę od 1 do 5." in refused
    arabic = resolved_survey(session, w, who="amal")
    page = app_client.get(f"/csat/{arabic.token}", headers={"accept-language": "ar"}).text
    assert '<html lang="ar" dir="rtl">' in page and "كيف كان أداؤنا؟" in page


def test_an_unknown_link_gets_a_friendly_not_found(
    app_client: TestClient, session: Session
) -> None:
    build_world(session)
    for token in ("not-a-survey", "x" * 200):
        page = app_client.get(f"/csat/{token}")
        assert page.status_code == 404
        assert "Survey not found" in page.text and "<form" not in page.text
        assert app_client.post(f"/csat/{token}", data={"rating": "5"}).status_code == 404


def test_a_closed_survey_says_so_and_takes_no_answer(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    survey = resolved_survey(session, w, days_ago=30)
    page = app_client.get(f"/csat/{survey.token}")
    assert page.status_code == 200
    assert "This survey has closed." in page.text and "<form" not in page.text
    late = app_client.post(f"/csat/{survey.token}", data={"rating": "5"})
    assert late.status_code == 409 and "This survey has closed." in late.text
    assert stored(session, survey).rating is None


def test_a_signed_in_agent_opening_the_link_can_answer_without_a_csrf_token(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    survey = resolved_survey(session, w)
    login(app_client, "dana@example.com")
    answer = app_client.post(f"/csat/{survey.token}", data={"rating": "5"})
    assert answer.status_code == 200, answer.text
    assert stored(session, survey).rating == 5


def test_answers_are_rate_limited_per_survey(app_client: TestClient, session: Session) -> None:
    w = build_world(session)
    busy = resolved_survey(session, w, who="busy")
    calm = resolved_survey(session, w, who="calm")
    for rating in [1, 2, 3, 4, 5, 1, 2, 3, 4, 5]:
        ok = app_client.post(f"/csat/{busy.token}", data={"rating": str(rating)})
        assert ok.status_code == 200
    limited = app_client.post(f"/csat/{busy.token}", data={"rating": "1"})
    assert limited.status_code == 429
    assert "Too many answers at once. Please wait a minute." in limited.text
    assert stored(session, busy).rating == 5
    assert app_client.post(f"/csat/{calm.token}", data={"rating": "4"}).status_code == 200
