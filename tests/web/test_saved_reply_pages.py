"""Saved replies in the browser and the API: the settings page for admins and managers, the
reply box's / menu, `GET /api/v1/saved-replies` (docs/concepts/saved-replies.md)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from inbox.accounts import do_create_token
from inbox.models import Agent, AuditEntry, SavedReply, Team
from inbox.saved_replies import do_create_saved_reply
from tests.conftest import csrf_headers, login
from tests.factories import World, build_world, customer_writes

PAGE = "/settings/saved-replies"


@pytest.fixture
def world(session: Session) -> World:
    return build_world(session)


def saved(session: Session, w: World, shortcut: str, team: Team | None = None, **kw: Any) -> int:
    reply = do_create_saved_reply(
        session=session,
        actor=w.admin,
        shortcut=shortcut,
        title=kw.get("title", shortcut.capitalize()),
        content=kw.get("content", f"Text of {shortcut}"),
        team_id=team.id if team else None,
    )
    session.commit()
    assert reply.id is not None
    return reply.id


def stored(session: Session) -> dict[str, SavedReply]:
    session.rollback()
    session.expire_all()
    return {r.shortcut: r for r in session.exec(select(SavedReply)).all()}


def post(client: TestClient, path: str, **data: str) -> Any:
    return client.post(path, data=data, headers=csrf_headers(client))


# The settings page


def test_an_admin_starts_from_the_empty_state_and_adds_a_reply(
    app_client: TestClient, world: World, session: Session
) -> None:
    login(app_client, "admin@example.com")
    page = app_client.get(PAGE)
    assert page.status_code == 200
    assert "No saved replies yet" in page.text
    assert "agents insert them by typing / in the reply box" in page.text
    assert 'href="/settings/saved-replies" class="active"' in page.text
    assert 'href="/settings/agents"' in page.text  # an admin has every tab

    added = post(
        app_client,
        PAGE,
        shortcut="refund-policy",
        title="Refund policy",
        team_id=str(world.billing.id),
        content="Hi {{contact.first_name}},\nRefunds take 5 days.",
    )
    assert added.status_code == 200, added.text
    assert "typing /refund-policy in the reply box" in added.text
    # The table comes out of band: the row, its team, the text's first line only.
    assert 'id="saved-replies-table" class="table-scroll" hx-swap-oob="true"' in added.text
    assert "<code>/refund-policy</code>" in added.text and "Billing" in added.text
    assert "Hi {{contact.first_name}}," in added.text and "Refunds take" not in added.text

    reply = stored(session)["refund-policy"]
    assert (reply.team_id, reply.created_by_id) == (world.billing.id, world.admin.id)
    assert "Everyone" in post(app_client, PAGE, shortcut="hi", title="Hi", content="Hi!").text


def test_a_post_without_the_csrf_header_is_refused(
    app_client: TestClient, world: World, session: Session
) -> None:
    login(app_client, "admin@example.com")
    response = app_client.post(
        PAGE, data={"shortcut": "x", "title": "X", "content": "x"}, headers={"hx-request": "true"}
    )
    assert response.status_code == 403
    assert stored(session) == {}


def test_mistakes_are_explained_beside_the_form_keeping_what_was_typed(
    app_client: TestClient, world: World, session: Session
) -> None:
    saved(session, world, "hello")
    login(app_client, "admin@example.com")
    taken = post(app_client, PAGE, shortcut="hello", title="Hello again", content="Hey there")
    assert taken.status_code == 422
    assert "already uses that shortcut" in taken.text
    assert 'value="Hello again"' in taken.text and ">Hey there</textarea>" in taken.text
    assert re.search(r'class="field invalid">\s*<span class="label">Shortcut', taken.text)
    assert "saved-replies-table" not in taken.text  # only the panel comes back

    bad = post(app_client, PAGE, shortcut="Refund Policy!", title="Refunds", content="x")
    assert bad.status_code == 422 and "lowercase letters, digits and dashes" in bad.text
    empty = post(app_client, PAGE, shortcut="empty", title="Empty", content="   ")
    assert empty.status_code == 422 and "Write the text of the saved reply" in empty.text
    assert set(stored(session)) == {"hello"}


def test_the_refusal_comes_in_the_admins_language(
    app_client: TestClient, world: World, session: Session
) -> None:
    saved(session, world, "hello")
    login(app_client, "admin@example.com")
    app_client.post("/me/language", data={"locale": "pl"}, headers=csrf_headers(app_client))
    taken = post(app_client, PAGE, shortcut="hello", title="Hello", content="Hi")
    assert taken.status_code == 422
    assert "Inna zapisana odpowiedź tego samego zespołu używa już tego skrótu." in taken.text
    assert "Zapisane odpowiedzi" in app_client.get(PAGE).text


def test_an_admin_edits_and_deletes_a_reply(
    app_client: TestClient, world: World, session: Session
) -> None:
    reply_id = saved(session, world, "bye", title="Closing")
    login(app_client, "admin@example.com")
    panel = app_client.get(f"{PAGE}/{reply_id}", headers={"hx-request": "true"})
    assert panel.status_code == 200 and 'value="bye"' in panel.text
    edited = post(
        app_client, f"{PAGE}/{reply_id}", shortcut="closing", title="Closing", content="Bye!"
    )
    assert edited.status_code == 200 and "Saved changes to /closing." in edited.text
    assert edited.headers["hx-push-url"] == PAGE
    assert stored(session)["closing"].content == "Bye!"

    page = app_client.get(PAGE).text
    assert 'hx-confirm="Delete the saved reply /closing?' in page
    deleted = post(app_client, f"{PAGE}/{reply_id}/delete")
    assert deleted.status_code == 200 and "Deleted /closing." in deleted.text
    assert "No saved replies yet" in deleted.text
    assert stored(session) == {}
    actions = session.exec(
        select(AuditEntry.action).where(AuditEntry.actor_agent_id == world.admin.id)
    )
    assert {"saved_reply.updated", "saved_reply.deleted"} <= set(actions.all())


def test_an_agent_gets_a_page_saying_who_keeps_them_and_posts_are_refused(
    app_client: TestClient, world: World, session: Session
) -> None:
    reply_id = saved(session, world, "reset", world.support)
    login(app_client, "dana@example.com")
    for path in (PAGE, f"{PAGE}/{reply_id}"):
        page = app_client.get(path)
        assert page.status_code == 403, path
        assert "Saved replies are kept by admins and managers" in page.text
        assert "type / and a few letters in the reply box" in page.text
    for path in (PAGE, f"{PAGE}/{reply_id}", f"{PAGE}/{reply_id}/delete"):
        refused = post(app_client, path, shortcut="mine", title="Mine", content="Mine")
        assert refused.status_code == 403, path
    assert set(stored(session)) == {"reset"}
    assert "/settings/saved-replies" not in app_client.get("/inbox").text


def test_a_manager_keeps_their_own_teams_replies_only(
    app_client: TestClient, world: World, session: Session
) -> None:
    shared = saved(session, world, "hello")
    billing = saved(session, world, "refund", world.billing)
    login(app_client, "maria@example.com")  # manager of Support L1
    assert 'href="/settings/saved-replies"' in app_client.get("/inbox").text
    page = app_client.get(PAGE).text
    # Only their tab; the shared reply is listed to use, not to change; Billing's not at all.
    assert 'href="/settings/agents"' not in page and 'href="/settings/policy"' not in page
    assert "<code>/hello</code>" in page and f"{PAGE}/{shared}" not in page
    assert "/refund" not in page
    assert f'<option value="{world.support.id}"' in page and '<option value="">' not in page
    assert f'<option value="{world.billing.id}"' not in page

    mine = post(app_client, PAGE, shortcut="reset", title="Reset", content="Check spam.")
    assert mine.status_code == 422  # no team chosen means shared: not theirs to make
    assert "Only admins change the saved replies shared with everyone." in mine.text
    other = post(
        app_client, PAGE, shortcut="r", title="R", content="R", team_id=str(world.billing.id)
    )
    assert other.status_code == 422 and "their own teams" in other.text
    ok = post(
        app_client, PAGE, shortcut="reset", title="R", content="R", team_id=str(world.support.id)
    )
    assert ok.status_code == 200, ok.text

    assert app_client.get(f"{PAGE}/{shared}").status_code == 403
    assert app_client.get(f"{PAGE}/{billing}").status_code == 404
    assert post(app_client, f"{PAGE}/{shared}/delete").status_code == 403
    assert post(app_client, f"{PAGE}/{billing}/delete").status_code == 404
    assert set(stored(session)) == {"hello", "refund", "reset"}


def test_what_admins_type_is_escaped(
    app_client: TestClient, world: World, session: Session
) -> None:
    saved(session, world, "xss", title="<script>alert(1)</script>", content="<b>bold</b>")
    login(app_client, "admin@example.com")
    page = app_client.get(PAGE).text
    assert "<script>alert(1)" not in page and "<b>bold" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;b&gt;bold" in page
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)
    assert " style=" not in page and " on" + "click=" not in page


# The reply box


def test_the_reply_box_offers_saved_replies_filled_in_for_the_conversation(
    app_client: TestClient, world: World, session: Session
) -> None:
    saved(
        session,
        world,
        "refund",
        world.support,
        content="Dear {{contact.name}}, #{{conversation.id}}. {{agent.first_name}}",
    )
    saved(session, world, "hello", title="Greeting", content="Hi {{contact.first_name}}")
    saved(session, world, "billing-only", world.billing)
    who = "<script>alert(1)</script>"
    conversation = customer_writes(session, world.webchat, who=who, team=world.support).conversation
    login(app_client, "dana@example.com")

    page = app_client.get(f"/conversations/{conversation.id}").text
    assert f'data-saved-replies="/conversations/{conversation.id}/saved-replies"' in page
    assert "Type / for saved replies." in page

    url = f"/conversations/{conversation.id}/saved-replies"
    menu = app_client.get(url, headers={"accept": "application/json"})
    assert menu.status_code == 200
    assert menu.headers["content-type"] == "application/json"
    assert menu.headers["x-content-type-options"] == "nosniff"
    # Data, not markup: app.js sets it as the text box's value, never as HTML.
    assert menu.json() == [
        {
            "id": menu.json()[0]["id"],
            "shortcut": "hello",
            "title": "Greeting",
            "text": "Hi Customer",
        },
        {
            "id": menu.json()[1]["id"],
            "shortcut": "refund",
            "title": "Refund",
            "text": f"Dear Customer {who}, #{conversation.id}. Dana",
        },
    ]
    found = app_client.get(url, params={"q": "ref"}, headers={"accept": "application/json"})
    assert [o["shortcut"] for o in found.json()] == ["refund"]


def test_the_menu_of_a_conversation_the_agent_may_not_see_is_404(
    app_client: TestClient, world: World, session: Session
) -> None:
    saved(session, world, "hello")
    billing = customer_writes(session, world.webchat, who="ann", team=world.billing).conversation
    login(app_client, "dana@example.com")
    for cid in (billing.id, 99999):
        response = app_client.get(
            f"/conversations/{cid}/saved-replies", headers={"accept": "application/json"}
        )
        assert response.status_code == 404
        assert response.json()["error"] == "No such conversation"


# The JSON API


def bearer(session: Session, agent: Agent) -> dict[str, str]:
    token = do_create_token(session=session, agent=agent, label="test")
    session.commit()
    return {"authorization": f"Bearer {token}"}


def test_the_api_lists_what_the_tokens_agent_may_use(
    app_client: TestClient, world: World, session: Session
) -> None:
    saved(session, world, "hello", content="Hi {{contact.first_name}}")
    saved(session, world, "reset", world.support)
    saved(session, world, "refund", world.billing)
    headers = bearer(session, world.dana)

    listed = app_client.get("/api/v1/saved-replies", headers=headers)
    assert listed.status_code == 200
    body = listed.json()
    assert body["next_cursor"] is None
    assert [i["shortcut"] for i in body["items"]] == ["hello", "reset"]
    hello = body["items"][0]
    assert hello["content"] == "Hi {{contact.first_name}}"  # as stored: no conversation here
    assert hello["team_id"] is None and hello["created_by_id"] == world.admin.id
    assert hello["created_at"].endswith("Z")

    found = app_client.get("/api/v1/saved-replies?q=RES&limit=5", headers=headers).json()
    assert [i["shortcut"] for i in found["items"]] == ["reset"]
    assert app_client.get("/api/v1/saved-replies?limit=0", headers=headers).status_code == 422
    assert app_client.get("/api/v1/saved-replies").status_code == 401
