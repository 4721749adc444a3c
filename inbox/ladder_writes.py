"""What the SLA ladder writes, in few statements (docs/concepts/sla.md#exactly-once).

The SlaStageRun row that claims a stage exactly once (`claim`, `claim_all`), the alerts,
notifications and audit entries stages add (`Writes`, one INSERT a table), and each
conversation's next timer after a run (`store_next_timer`, `store_next_timers`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, bindparam, case, insert, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from .clock import utcnow
from .db import queue_event
from .events import notification_created
from .models import Alert, AuditEntry, Conversation, Notification, SlaStageRun
from .notifiers.alerts import PENDING, alert_created
from .policy import AlertChannel, Policy
from .sla import RETRY, next_timer

_RUNS = SlaStageRun.__table__  # type: ignore[attr-defined]
SET_DETAILS = (
    update(_RUNS)
    .where(_RUNS.c.id == bindparam("run_id"))
    .values(details=bindparam("details", type_=JSON))
)


_CLAIM = {
    name: insert_(_RUNS)
    .on_conflict_do_nothing(index_elements=["conversation_id", "stage_key"])
    .returning(_RUNS.c.id, _RUNS.c.conversation_id, _RUNS.c.stage_key)
    for name, insert_ in (("sqlite", sqlite.insert), ("postgresql", postgresql.insert))
}


def claim_all(session: Session, rows: list[dict[str, Any]]) -> dict[tuple[int, str], int]:
    """Insert the stages' rows in one statement; the ones that come back are ours (the others
    already ran, here, elsewhere or before a restart). Maps (conversation, key) to the row."""
    if not rows:
        return {}
    dialect = session.get_bind().dialect.name
    if dialect not in _CLAIM:
        return _claim_each(session, rows)
    # Many parameter sets: SQLAlchemy sends them as one multi-row INSERT ("insertmanyvalues")
    # and compiles the statement once, whatever the number of rows.
    return {(c, k): i for i, c, k in session.execute(_CLAIM[dialect], rows)}


def _claim_each(session: Session, rows: list[dict[str, Any]]) -> dict[tuple[int, str], int]:
    """Other databases: a savepoint per row."""
    out: dict[tuple[int, str], int] = {}
    for row in rows:
        run = SlaStageRun(**row)
        try:
            with session.begin_nested():
                session.add(run)
        except IntegrityError:
            continue
        assert run.id is not None
        out[(row["conversation_id"], row["stage_key"])] = run.id
    return out


def claim(session: Session, run: SlaStageRun) -> bool:
    """Insert the stage's row; False when it already ran (here, elsewhere, before a restart)."""
    session.add(run)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        return False
    return True


_NOTES = Notification.__table__  # type: ignore[attr-defined]
_AUDIT = AuditEntry.__table__  # type: ignore[attr-defined]
_ALERTS = Alert.__table__  # type: ignore[attr-defined]


# Built once: a statement built anew each time costs about as much as running it. RETURNING
# the columns that tell the rows apart, not in the parameters' order: asked for that order,
# SQLAlchemy inserts into SQLite one row at a time.
_NOTE_KEY = ("agent_id", "conversation_id", "kind", "text")
_ALERT_KEY = ("conversation_id", "stage_key", "channel", "target")
_INSERT_NOTES = insert(_NOTES).returning(_NOTES.c.id, *(_NOTES.c[k] for k in _NOTE_KEY))
_INSERT_ALERTS = insert(_ALERTS).returning(_ALERTS.c.id, *(_ALERTS.c[k] for k in _ALERT_KEY))
_INSERT_AUDIT = insert(_AUDIT)


class Writes:
    """The alerts, notifications and audit entries stages add, written in one statement a
    table (`write`): through the ORM, each was a flush of its own, to learn its id for the
    event, six or seven a stage."""

    def __init__(self) -> None:
        self.alerts: list[tuple[dict[str, Any], dict[str, Any]]] = []
        self.notes: list[dict[str, Any]] = []
        self.audits: list[dict[str, Any]] = []

    def alert(
        self,
        targets: list[tuple[AlertChannel, str]],
        *,
        text: str,
        conversation_id: int,
        escalation_id: int | None,
        stage_key: str,
    ) -> list[dict[str, Any]]:
        """Pending alerts, as notifiers.alerts.add_alert writes them. Returns what the stage
        records of each; `write` fills in their ids, before it writes the audit entries."""
        out: list[dict[str, Any]] = []
        for channel, target in targets:
            row = {
                "conversation_id": conversation_id,
                "escalation_id": escalation_id,
                "stage_key": stage_key[:120],
                "channel": channel,
                "target": target[:320],
                "text": text,
                "status": PENDING,
            }
            shown = {"id": None, "channel": channel, "target": row["target"]}
            self.alerts.append((row, shown))
            out.append(shown)
        return out

    def notify(self, agent_id: int, kind: str, text: str, conversation_id: int) -> None:
        # As conversations.notify writes one.
        self.notes.append(
            {
                "agent_id": agent_id,
                "kind": kind,
                "text": text[:500],
                "conversation_id": conversation_id,
            }
        )

    def record(self, action: str, conversation_id: int, details: dict[str, Any]) -> None:
        # As audit.record writes a system entry.
        self.audits.append(
            {
                "actor": "system",
                "action": action,
                "conversation_id": conversation_id,
                "details": details,
            }
        )

    def write(self, session: Session) -> None:
        """Insert what was added, then tell the agents and the alert sender (after the
        commit)."""
        at = utcnow()
        if self.alerts:
            rows = [row | {"created_at": at} for row, _ in self.alerts]
            # A stage alerts each (channel, target) once: the key is unique.
            ids = {tuple(r[1:]): r[0] for r in session.execute(_INSERT_ALERTS, rows)}
            for row, shown in self.alerts:
                shown["id"] = ids[tuple(row[k] for k in _ALERT_KEY)]
                queue_event(session, alert_created(shown["id"]))
        if self.notes:
            # Two notes alike (same agent, conversation and text) may take each other's ids.
            note_ids: dict[tuple[Any, ...], list[int]] = defaultdict(list)
            for r in session.execute(_INSERT_NOTES, [n | {"created_at": at} for n in self.notes]):
                note_ids[tuple(r[1:])].append(r[0])
            for note in self.notes:
                queue_event(
                    session,
                    notification_created(
                        notification_id=note_ids[tuple(note[k] for k in _NOTE_KEY)].pop(),
                        agent_id=note["agent_id"],
                        kind=note["kind"],
                        text=note["text"],
                    ),
                )
        if self.audits:
            session.execute(_INSERT_AUDIT, [a | {"at": at} for a in self.audits])
        self.alerts, self.notes, self.audits = [], [], []


def store_next_timers(
    session: Session,
    policy: Policy,
    conversations: Iterable[tuple[Conversation, set[str]]],
    now: datetime,
) -> None:
    """Each conversation's next timer, from the stages run so far, in two statements."""
    later: list[dict[str, Any]] = []
    none: list[dict[str, Any]] = []
    for conversation, fired in conversations:
        at = _next_after_run(session, policy, conversation, now, fired, failed=False)
        if at is None:
            none.append({"cid": conversation.id, "now": now})
        else:
            later.append({"cid": conversation.id, "now": now, "at": at})
        # Written below, behind the ORM's back: read it again if asked.
        session.expire(conversation, ["next_timer_at"])
    if later:
        session.execute(_SET_TIMER, later)
    if none:
        session.execute(_CLEAR_TIMER, none)


_CONVERSATIONS = Conversation.__table__  # type: ignore[attr-defined]
_STORED = _CONVERSATIONS.c.next_timer_at
_NOW = bindparam("now", type_=_STORED.type)
_AT = bindparam("at", type_=_STORED.type)
# A change committed meanwhile may have set an earlier timer (a new escalation's bounce):
# keep it, in the same statement, so that no commit can slip in between the look and the
# write. An early timer costs one empty look; a lost one, a missed stage.
_SET_TIMER = (
    update(_CONVERSATIONS)
    .where(_CONVERSATIONS.c.id == bindparam("cid"))
    .values(next_timer_at=case(((_STORED > _NOW) & (_STORED < _AT), _STORED), else_=_AT))
)
_CLEAR_TIMER = (
    update(_CONVERSATIONS)
    .where(_CONVERSATIONS.c.id == bindparam("cid"))
    .values(next_timer_at=case((_STORED > _NOW, _STORED), else_=None))
)


def store_next_timer(
    session: Session,
    policy: Policy,
    conversation_id: int,
    now: datetime,
    fired: set[str],
    *,
    failed: bool = False,
) -> None:
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        return
    at = _next_after_run(session, policy, conversation, now, fired, failed=failed)
    # A change committed meanwhile may have set an earlier timer (a new escalation's bounce):
    # keep it. An early timer costs one empty look; a lost one, a missed stage.
    stored = session.exec(
        select(Conversation.next_timer_at).where(Conversation.id == conversation_id)
    ).first()
    if stored is not None and stored > now and (at is None or stored < at):
        at = stored
    conversation.next_timer_at = at
    session.add(conversation)


def _next_after_run(
    session: Session,
    policy: Policy,
    conversation: Conversation,
    now: datetime,
    fired: set[str],
    *,
    failed: bool,
) -> datetime | None:
    at = next_timer(session, policy, conversation, now, after_run=True, fired=fired)
    if failed or (at is not None and at <= now):
        # Something could not be done just now: look again shortly, without spinning.
        at = now + RETRY if at is None or at <= now else min(at, now + RETRY)
    return at
