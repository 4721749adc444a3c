"""Saved replies (docs/concepts/saved-replies.md): the answers a team types every day, kept
once and inserted by typing /shortcut in the reply box, with the customer's name filled in.

Who may use and who may manage them is in inbox/access.py. The do_* functions flush and audit;
the caller commits, as for the other settings (inbox/accounts.py).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from .access import (
    Scope,
    can_manage_saved_reply,
    can_use_saved_reply,
    scope_for,
    usable_saved_replies,
)
from .audit import record
from .clock import utcnow
from .conversation_writes import MAX_CONTENT
from .errors import N_, Conflict, Forbidden, InvalidInput, NotFound
from .models import Agent, Contact, Conversation, Role, SavedReply, Team

SHORTCUT = re.compile(r"[a-z0-9-]{1,40}")
MAX_TITLE = 120
# What the reply box's menu shows at most.
MENU_LIMIT = 8
TAKEN = N_("Another saved reply for the same team already uses that shortcut.")
FIELDS = ("shortcut", "title", "content", "team_id")


def check_shortcut(value: str) -> str:
    """Lower-cased, without the / an agent may type in front of it."""
    shortcut = value.strip().removeprefix("/").lower()
    if not SHORTCUT.fullmatch(shortcut):
        raise InvalidInput(
            N_("A shortcut is 1 to 40 lowercase letters, digits and dashes, like refund-policy."),
            {"field": "shortcut"},
        )
    return shortcut


def check_title(value: str) -> str:
    title = value.strip()
    if not title:
        raise InvalidInput(N_("Give the saved reply a title."), {"field": "title"})
    if len(title) > MAX_TITLE:
        raise InvalidInput(N_("A title has at most 120 characters."), {"field": "title"})
    return title


def check_text(value: str) -> str:
    content = value.strip()
    if not content:
        raise InvalidInput(N_("Write the text of the saved reply."), {"field": "content"})
    if len(content) > MAX_CONTENT:
        raise InvalidInput(N_("The text is longer than a reply may be."), {"field": "content"})
    return content


def check_team(session: Session, scope: Scope, team_id: int | None) -> int | None:
    if team_id is not None and session.get(Team, team_id) is None:
        raise InvalidInput(N_("That team does not exist."), {"field": "team_id"})
    if can_manage_saved_reply(scope, team_id):
        return team_id
    if scope.role == Role.manager:
        message = (
            N_("Only admins change the saved replies shared with everyone.")
            if team_id is None
            else N_("Managers change only their own teams' saved replies.")
        )
        raise Forbidden(message, {"field": "team_id"})
    raise Forbidden(N_("Only admins and managers change saved replies."))


def _check_free(session: Session, shortcut: str, team_id: int | None, own_id: int | None) -> None:
    # The database refuses a duplicate too (two unique indexes); this says so in words first.
    query = select(SavedReply.id).where(
        SavedReply.shortcut == shortcut,
        col(SavedReply.team_id).is_(None) if team_id is None else SavedReply.team_id == team_id,
    )
    if own_id is not None:
        query = query.where(col(SavedReply.id) != own_id)
    if session.exec(query).first() is not None:
        raise Conflict(TAKEN, {"field": "shortcut"})


def _flush(session: Session) -> None:
    """Flush; another admin saving the same shortcut a moment earlier is a Conflict."""
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(TAKEN, {"field": "shortcut"}) from exc


def do_create_saved_reply(
    *,
    session: Session,
    actor: Agent,
    shortcut: str,
    title: str,
    content: str,
    team_id: int | None = None,
) -> SavedReply:
    team_id = check_team(session, scope_for(session, actor), team_id)
    reply = SavedReply(
        shortcut=check_shortcut(shortcut),
        title=check_title(title),
        content=check_text(content),
        team_id=team_id,
        created_by_id=actor.id,
    )
    _check_free(session, reply.shortcut, team_id, None)
    session.add(reply)
    _flush(session)
    record(
        session,
        "saved_reply.created",
        actor=actor,
        details={"saved_reply_id": reply.id, "shortcut": reply.shortcut, "team_id": team_id},
    )
    return reply


def do_update_saved_reply(
    *, session: Session, actor: Agent, reply: SavedReply, changes: dict[str, Any]
) -> SavedReply:
    """`changes` holds any of shortcut, title, content, team_id. Moving a reply to another
    team needs the right to manage it in both."""
    scope = scope_for(session, actor)
    check_team(session, scope, reply.team_id)
    team_id = check_team(session, scope, changes.get("team_id", reply.team_id))
    shortcut = check_shortcut(changes.get("shortcut", reply.shortcut))
    _check_free(session, shortcut, team_id, reply.id)
    updated = {
        "shortcut": shortcut,
        "title": check_title(changes.get("title", reply.title)),
        "content": check_text(changes.get("content", reply.content)),
        "team_id": team_id,
    }
    changed = sorted(k for k in FIELDS if updated[k] != getattr(reply, k))
    for key in changed:
        setattr(reply, key, updated[key])
    reply.updated_at = utcnow()
    session.add(reply)
    _flush(session)
    record(
        session,
        "saved_reply.updated",
        actor=actor,
        details={"saved_reply_id": reply.id, "fields": changed},
    )
    return reply


def do_delete_saved_reply(*, session: Session, actor: Agent, reply: SavedReply) -> None:
    check_team(session, scope_for(session, actor), reply.team_id)
    record(
        session,
        "saved_reply.deleted",
        actor=actor,
        details={"saved_reply_id": reply.id, "shortcut": reply.shortcut, "team_id": reply.team_id},
    )
    session.delete(reply)
    session.flush()


def get_saved_reply(session: Session, scope: Scope, reply_id: int) -> SavedReply:
    """The reply, or NotFound when it does not exist or `scope` may not use it (alike, so
    other teams' replies do not show through)."""
    reply = session.get(SavedReply, reply_id)
    if reply is None or not can_use_saved_reply(scope, reply):
        raise NotFound("No such saved reply")
    return reply


def saved_replies_for(
    session: Session, scope: Scope, q: str | None = None, limit: int | None = MENU_LIMIT
) -> list[SavedReply]:
    """What `scope` may use, matching `q` (a shortcut's start, or within the title or text, in
    any case); shortcuts that start with `q` first, then by shortcut, a team's before the
    shared one of the same name. `limit` None: all of them."""
    rows = session.exec(select(SavedReply).where(usable_saved_replies(scope))).all()
    # Matched here, not in SQL: SQLite's lower() and LIKE fold ASCII letters only, and a
    # workspace keeps tens of replies, not thousands.
    needle = (q or "").strip().removeprefix("/").casefold()

    def rank(reply: SavedReply) -> tuple[bool, str, bool, int]:
        starts = reply.shortcut.startswith(needle)
        return (not starts, reply.shortcut, reply.team_id is None, reply.id or 0)

    found = [
        r
        for r in rows
        if r.shortcut.startswith(needle)
        or needle in r.title.casefold()
        or needle in r.content.casefold()
    ]
    found.sort(key=rank)
    return found if limit is None else found[:limit]


# {{contact.name}}, {{ agent.first_name }}: names and spaces only, so nothing else is read.
PLACEHOLDER = re.compile(r"\{\{\s*([a-z]+\.[a-z_]+)\s*\}\}")


def first_name(name: str) -> str:
    return name.split()[0] if name.split() else ""


def expand(content: str, *, contact: Contact, agent: Agent, conversation: Conversation) -> str:
    """The placeholders filled in by plain replacement, in one pass: a customer whose name
    is "{{agent.name}}" stays just that. Unknown placeholders stay as typed; a missing value
    (a contact without email) becomes empty."""
    values = {
        "contact.name": contact.name or "",
        "contact.first_name": first_name(contact.name or ""),
        "contact.email": contact.email or "",
        "agent.name": agent.name,
        "agent.first_name": first_name(agent.name),
        "conversation.id": str(conversation.id or ""),
    }
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), content)
