"""The escalation letter in the inbox: the button in the escalation bar, the editable draft,
sending what the agent edited, an empty letter refused, and 404 for agents who cannot see the
conversation."""

from __future__ import annotations

from sqlmodel import Session, col, select
from starlette.testclient import TestClient

from inbox import queries
from inbox.escalation import do_escalate
from inbox.models import Conversation, Message
from tests.conftest import csrf_headers, login
from tests.factories import World, build_world, customer_writes

HTMX = {"hx-request": "true"}


def escalated(session: Session) -> tuple[World, Conversation]:
    w = build_world(session)
    c = customer_writes(session, w.webchat, "I was charged twice", team=w.support).conversation
    do_escalate(
        session=session,
        conversation=c,
        actor=w.dana,
        trigger="agent",
        brief={"summary": "Double charge; the customer sounds angry", "tried": "A refund."},
        to_team=w.billing,
    )
    return w, c


def test_the_bar_offers_the_letter_once_escalated(app_client: TestClient, session: Session) -> None:
    w = build_world(session)
    c = customer_writes(session, w.webchat, "Hello", team=w.support).conversation
    login(app_client, "dana@example.com")
    bar = app_client.get(f"/conversations/{c.id}/escalation-bar", headers=HTMX).text
    assert "Write escalation letter" not in bar
    do_escalate(
        session=session,
        conversation=c,
        actor=w.dana,
        trigger="agent",
        brief={"summary": "Needs billing"},
        to_team=w.billing,
    )
    app_client.cookies.clear()
    login(app_client, "bob@example.com")
    bar = app_client.get(f"/conversations/{c.id}/escalation-bar", headers=HTMX).text
    assert f'hx-get="/conversations/{c.id}/letter"' in bar and "Write escalation letter" in bar


def test_the_agent_previews_edits_and_sends(app_client: TestClient, session: Session) -> None:
    _, c = escalated(session)
    login(app_client, "bob@example.com")
    form = app_client.get(f"/conversations/{c.id}/letter", headers=HTMX)
    assert form.status_code == 200
    assert "<textarea" in form.text and "We are sorry for the trouble" in form.text
    assert "What we have done so far: A refund." in form.text
    assert "Until then Bob Stone is your contact" in form.text
    assert "angry" not in form.text
    edited = "Dear customer,\nwe are sorry. A refund is on its way <b>today</b>.\nBob"
    sent = app_client.post(
        f"/conversations/{c.id}/letter",
        data={"text": edited},
        headers={**csrf_headers(app_client), **HTMX},
    )
    assert sent.status_code == 200
    assert sent.headers["hx-retarget"] == "#conversation"
    assert "A refund is on its way &lt;b&gt;today&lt;/b&gt;." in sent.text
    assert c.id is not None
    session.expire_all()
    customer_sees = [m.content for m in queries.thread(session, c.id, customer_view=True)]
    assert customer_sees[-1] == edited
    assert "angry" not in "\n".join(customer_sees)


def test_an_empty_letter_comes_back_with_the_error(
    app_client: TestClient, session: Session
) -> None:
    _, c = escalated(session)
    login(app_client, "bob@example.com")
    count = len(session.exec(select(Message.id).where(col(Message.kind) == "outgoing")).all())
    refused = app_client.post(
        f"/conversations/{c.id}/letter",
        data={"text": "   "},
        headers={**csrf_headers(app_client), **HTMX},
    )
    assert refused.status_code == 422
    assert 'role="alert"' in refused.text and "content is empty" in refused.text
    after = session.exec(select(Message.id).where(col(Message.kind) == "outgoing")).all()
    assert len(after) == count


def test_agents_who_cannot_see_it_get_404(app_client: TestClient, session: Session) -> None:
    w = build_world(session)
    c = customer_writes(session, w.webchat, "Invoice question", team=w.billing).conversation
    login(app_client, "dana@example.com")
    assert app_client.get(f"/conversations/{c.id}/letter", headers=HTMX).status_code == 404
    denied = app_client.post(
        f"/conversations/{c.id}/letter",
        data={"text": "Hello"},
        headers={**csrf_headers(app_client), **HTMX},
    )
    assert denied.status_code == 404
    assert c.id is not None
    assert [m.kind for m in queries.thread(session, c.id)] == ["incoming"]
