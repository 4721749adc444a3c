"""The rating row in the chat widget (docs/concepts/csat.md), driven as a visitor's browser."""

from __future__ import annotations

from typing import Any

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlmodel import Session, col, select
from starlette.testclient import TestClient

from channels.webchat.visitor import SALT
from inbox.conversations import do_set_status
from inbox.models import Agent, Conversation, CsatResponse
from tests.channels.helpers import app_db, widget_token
from tests.factories import World, build_world
from tests.web.test_languages import compiled_catalogs  # noqa: F401  (a fixture)

ORIGIN = {"origin": "http://testserver"}
pytestmark = pytest.mark.usefixtures("compiled_catalogs")


def start_chat(client: TestClient, world: World, **headers: str) -> str:
    body = {"name": "Lena Park", "email": "lena@example.org", "content": "Where is my order?"}
    response = client.post(
        f"/widget/{widget_token(world)}/conversations", json=body, headers=headers
    )
    assert response.status_code == 201, response.text
    visitor: str = response.json()["visitor_token"]
    return visitor


def resolve_latest(client: TestClient, world: World, status: str = "resolved") -> None:
    with app_db(client).session() as session:
        conversation = session.exec(
            select(Conversation).order_by(col(Conversation.id).desc())
        ).first()
        dana = session.get(Agent, world.dana.id)
        assert conversation is not None and dana is not None
        do_set_status(session=session, conversation=conversation, status=status, actor=dana)


def thread(client: TestClient, world: World, visitor: str) -> Any:
    response = client.get(
        f"/widget/{widget_token(world)}/messages", headers={"x-visitor-token": visitor}
    )
    assert response.status_code == 200, response.text
    return response.json()


def rate(client: TestClient, world: World, visitor: str, **body: object) -> Any:
    return client.post(
        f"/widget/{widget_token(world)}/csat", json=body, headers={"x-visitor-token": visitor}
    )


def surveys(session: Session) -> list[CsatResponse]:
    session.expire_all()
    return list(session.exec(select(CsatResponse).order_by(col(CsatResponse.id))))


def test_after_a_resolution_the_widget_offers_the_rating(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    visitor = start_chat(app_client, w)
    assert thread(app_client, w, visitor)["csat"] is None, "nothing to rate while it is open"
    resolve_latest(app_client, w)
    seen = thread(app_client, w, visitor)
    question = seen["messages"][-1]
    assert question["kind"] == "outgoing" and question["csat"] is True
    assert question["automatic"] is True
    assert f"/csat/{surveys(session)[0].token}" in question["content"]
    assert seen["csat"] == {"rating": None, "comment": "", "open": True}
    # The frame carries the row, its labels translated like the rest.
    frame = app_client.get(f"/widget/{widget_token(w)}/frame").text
    assert 'id="csat"' in frame and frame.count('class="star"') == 5
    assert 'aria-label="5: Excellent"' in frame


def test_the_question_arrives_live_over_the_widgets_socket(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    visitor = start_chat(app_client, w, **{"accept-language": "ru"})
    url = f"/widget/ws?token={widget_token(w)}&visitor={visitor}"
    with app_client.websocket_connect(url, headers=ORIGIN) as widget:
        assert widget.receive_json()["type"] == "hello"
        resolve_latest(app_client, w)
        while (frame := widget.receive_json())["type"] != "message":
            pass
    assert frame["data"]["csat"] is True
    # In the customer's language: their browser said Russian when the chat began.
    assert frame["data"]["content"].startswith("Как мы справились?")


def test_the_visitor_rates_from_the_widget_and_may_change_it(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    visitor = start_chat(app_client, w)
    resolve_latest(app_client, w)
    answer = rate(app_client, w, visitor, rating=5, comment="Thanks, <b>Dana</b>!")
    assert answer.status_code == 200, answer.text
    assert answer.json()["csat"] == {"rating": 5, "comment": "Thanks, <b>Dana</b>!", "open": True}
    assert [(s.rating, s.comment) for s in surveys(session)] == [(5, "Thanks, <b>Dana</b>!")]
    assert thread(app_client, w, visitor)["csat"]["rating"] == 5
    changed = rate(app_client, w, visitor, rating=4)
    assert changed.status_code == 200
    assert [(s.rating, s.comment) for s in surveys(session)] == [(4, "")]


def test_a_bad_rating_is_refused_in_the_visitors_language(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    visitor = start_chat(app_client, w)
    resolve_latest(app_client, w)
    for bad in (0, 6, "great", None):
        refused = rate(app_client, w, visitor, rating=bad)
        assert refused.status_code == 422
        assert refused.json()["error"] == "Please choose a rating from 1 to 5."
        assert refused.json()["detail"] == {"field": "rating"}
    assert surveys(session)[0].rating is None


def test_the_widget_refuses_in_the_visitors_language(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    visitor = start_chat(app_client, w, **{"accept-language": "ru"})
    resolve_latest(app_client, w)
    refused = rate(app_client, w, visitor, rating=9)
    assert refused.status_code == 422
    assert refused.json()["error"] == "Пожалуйста, выберите оценку от 1 до 5."
    frame = app_client.get(
        f"/widget/{widget_token(w)}/frame", headers={"accept-language": "ru"}
    ).text
    assert "Как мы справились?" in frame


def test_a_forged_or_foreign_visitor_token_cannot_rate(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    lena = start_chat(app_client, w)
    resolve_latest(app_client, w)
    assert rate(app_client, w, "made-up", rating=1).status_code == 401
    assert rate(app_client, w, "", rating=1).status_code == 401
    forged = URLSafeTimedSerializer("not-our-secret", salt=SALT).dumps(
        {"inbox_id": w.webchat.id, "identifier": "visitor:whatever"}
    )
    assert rate(app_client, w, forged, rating=1).status_code == 401
    # Another visitor, with a good token of their own, rates nothing of Lena's.
    other = start_chat(app_client, w)
    refused = rate(app_client, w, other, rating=1)
    assert refused.status_code == 404
    assert refused.json()["error"] == "There is nothing to rate yet."
    assert surveys(session)[0].rating is None
    assert rate(app_client, w, lena, rating=3).status_code == 200


def test_once_the_customer_writes_again_there_is_nothing_to_rate(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    visitor = start_chat(app_client, w)
    resolve_latest(app_client, w)
    again = app_client.post(
        f"/widget/{widget_token(w)}/messages",
        json={"content": "Actually, one more thing"},
        headers={"x-visitor-token": visitor},
    )
    assert again.status_code == 201
    assert thread(app_client, w, visitor)["csat"] is None
    assert rate(app_client, w, visitor, rating=2).status_code == 404
    # Resolved a second time: a second survey, offered afresh.
    resolve_latest(app_client, w)
    assert thread(app_client, w, visitor)["csat"] == {"rating": None, "comment": "", "open": True}
    assert rate(app_client, w, visitor, rating=5).status_code == 200
    assert [s.rating for s in surveys(session)] == [None, 5]
