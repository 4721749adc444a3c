"""What the SLA timer does when a moment comes (docs/concepts/sla.md#ladder).

`run_due(session, now)` runs every stage whose time has come, on every conversation whose
`next_timer_at` has passed: warnings and breaches (a notification to the assignee and the
team), ladder stages (alerts to the people the policy names, by Slack, email or SMS, and
optionally an escalation some tiers up), and asks the escalation module to bounce
escalations nobody accepted in time.

Exactly once: each stage first inserts its SlaStageRun row, unique per (conversation,
stage key), in the same transaction as its effects. A second process, a second call or a
restart that tries the same stage hits the unique key and skips it.

In bulk: a due minute can hold thousands of stages, so `run_due` runs them a group of
conversations at a time, one transaction a group (docs/performance.md#sla-timers): one
multi-row INSERT claims the group's stages (ON CONFLICT DO NOTHING: the unique key still
decides, and RETURNING says which rows are ours), batched reads fetch what the effects need,
and one flush writes them. The group commits whole or not at all, so a crash loses or doubles
nothing; a group that fails runs again conversation by conversation, a stage a transaction.
Conversations with an escalation, and stages that escalate, always take that slower path:
`do_escalate` commits on its own.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, bindparam, case, insert, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from . import escalation as escalations
from .clock import utcnow
from .db import queue_event
from .errors import HandoffError
from .events import notification_created
from .models import (
    Agent,
    Alert,
    AuditEntry,
    Contact,
    Conversation,
    Escalation,
    EscalationStatus,
    Membership,
    Notification,
    SlaStageRun,
    Trigger,
)
from .notifiers.alerts import PENDING, alert_created, alert_targets
from .policy import AlertChannel, Person, Policy, Stage
from .sla import (
    RETRY,
    TARGETS,
    Moment,
    active_escalation,
    current_policy,
    due,
    fired_keys,
    ladder_stopped,
    moments,
    next_timer,
)

log = logging.getLogger("handoff.sla")

# Due conversations read at a time; each step runs GROUP of them in one transaction (about
# 15 ms of work: short enough for the timer loop to hand the event loop back often).
BATCH = 500
GROUP = 25
LABELS = {
    "first_response": "First response",
    "next_response": "Next response",
    "resolution": "Resolution",
}


def run_due(session: Session, now: datetime) -> list[str]:
    """Run every stage due at `now`; returns the keys of the stages that fired."""
    due_pass = DuePass(session, now)
    while due_pass.step(session):
        pass
    return due_pass.fired


class DuePass:
    """One run over everything due at `now`, a group of conversations a step, so that the
    timer loop can hand the event loop back between steps (scheduler.py). Each step may use
    a new session: the pass keeps only ids and keys."""

    def __init__(self, session: Session, now: datetime) -> None:
        self.now = now
        self.policy = current_policy(session)
        self.fired: list[str] = []
        self._done: set[int] = set()
        self._agents_by_email: dict[str, int] | None = None
        _bounce_due(session, now)

    def step(self, session: Session, group: int = GROUP) -> bool:
        """Run one group's due stages; False once nothing is left."""
        due = session.exec(
            select(Conversation.id)
            .where(col(Conversation.next_timer_at) <= self.now)
            .order_by(col(Conversation.next_timer_at), col(Conversation.id))
            .limit(BATCH)
        ).all()
        # One already run in this pass whose timer is still due (a change made it so
        # meanwhile) waits for the next pass: the loop cannot spin on it.
        ids = [i for i in due if i is not None and i not in self._done][:group]
        if not ids:
            session.commit()  # ends the read (PostgreSQL holds it open otherwise)
            return False
        self.fired += _run_group(session, self, ids)
        self._done.update(ids)
        return True

    def agents_by_email(self, session: Session) -> dict[str, int]:
        """The policy's people who are Handoff agents (same email), read once a pass."""
        if self._agents_by_email is None:
            wanted = sorted({p.email.lower() for p in self.policy.people if p.email})
            found: dict[str, int] = {}
            if wanted:
                query = select(Agent.email, Agent.id).where(
                    col(Agent.email).in_(wanted), col(Agent.deactivated_at).is_(None)
                )
                found = {e.lower(): i for e, i in session.exec(query) if i is not None}
            self._agents_by_email = found
        return self._agents_by_email


def _run_group(session: Session, due_pass: DuePass, ids: list[int]) -> list[str]:
    """The group in one transaction; if that fails, each conversation on its own."""
    try:
        fired, alone = _run_batch(session, due_pass, ids)
        session.commit()
    except Exception:
        session.rollback()
        log.exception("SLA stages of %d conversations failed together; one by one now", len(ids))
        fired, alone = [], ids
    for conversation_id in alone:
        conversation = session.get(Conversation, conversation_id, populate_existing=True)
        if conversation is not None:
            fired += run_conversation(session, due_pass.policy, conversation, due_pass.now)
    return fired


def _run_batch(session: Session, due_pass: DuePass, ids: list[int]) -> tuple[list[str], list[int]]:
    """Claim and run the group's stages without committing. Returns the keys that fired and
    the conversations left for `run_conversation` (an escalation is involved)."""
    now, policy = due_pass.now, due_pass.policy
    found = session.exec(
        select(Conversation)
        .where(col(Conversation.id).in_(ids))
        .execution_options(populate_existing=True)  # as committed, not as last seen
    ).all()
    by_id = {c.id: c for c in found}
    fired_before: dict[int, set[str]] = defaultdict(set)
    for conversation_id, key in session.exec(
        select(SlaStageRun.conversation_id, SlaStageRun.stage_key).where(
            col(SlaStageRun.conversation_id).in_(ids)
        )
    ):
        fired_before[conversation_id].add(key)
    alone: list[int] = []
    plans: list[tuple[Conversation, list[Moment]]] = []
    for conversation_id in ids:
        conversation = by_id.get(conversation_id)
        if conversation is None or conversation.next_timer_at is None:
            continue
        if conversation.next_timer_at > now:
            continue  # another process got here first
        if conversation.escalation_id is not None:
            alone.append(conversation_id)
            continue
        due_now = sorted(
            (
                m
                for m in moments(session, policy, conversation, None)
                if m.at <= now and m.key not in fired_before[conversation_id]
            ),
            key=lambda m: m.at,
        )
        if any(m.stage is not None and m.stage.escalate_tiers for m in due_now):
            alone.append(conversation_id)
            continue
        plans.append((conversation, due_now))
    claimed = _claim_all(
        session,
        [
            {
                "conversation_id": c.id,
                "stage_key": m.key,
                "due_at": m.at,
                "fired_at": now,
                "details": {"kind": m.kind},
            }
            for c, due_now in plans
            for m in due_now
        ],
    )
    effects = _Effects(session, due_pass, [c for c, _ in plans])
    out: list[str] = []
    details: list[dict[str, Any]] = []
    for conversation, due_now in plans:
        for moment in due_now:
            run_id = claimed.get((conversation.id or 0, moment.key))
            if run_id is None:
                continue  # it ran elsewhere
            details.append({"run_id": run_id, "details": effects.run(conversation, moment)})
            out.append(moment.key)
    effects.finish()
    if details:
        session.execute(_SET_DETAILS, details)
    _store_next_timers(
        session,
        policy,
        [(c, fired_before[c.id] | {m.key for m in due_now}) for c, due_now in plans if c.id],
        now,
    )
    return out, alone


_RUNS = SlaStageRun.__table__  # type: ignore[attr-defined]
_SET_DETAILS = (
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


def _claim_all(session: Session, rows: list[dict[str, Any]]) -> dict[tuple[int, str], int]:
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


class _Effects:
    """What a group's warnings, breaches and ladder stages write, read and added in bulk."""

    def __init__(
        self, session: Session, due_pass: DuePass, conversations: list[Conversation]
    ) -> None:
        self.session = session
        self.due_pass = due_pass
        self.writes = _Writes()
        contact_ids = {c.contact_id for c in conversations}
        self.names = {
            i: n
            for i, n in session.exec(
                select(Contact.id, Contact.name).where(col(Contact.id).in_(contact_ids))
            )
            if i is not None and n
        }
        team_ids = {c.team_id for c in conversations if c.team_id is not None}
        self.members: dict[int, list[int]] = defaultdict(list)
        for team_id, agent_id in session.exec(
            select(Membership.team_id, Membership.agent_id)
            .join(Agent, col(Agent.id) == col(Membership.agent_id))
            .where(col(Membership.team_id).in_(team_ids), col(Agent.deactivated_at).is_(None))
        ):
            self.members[team_id].append(agent_id)

    def run(self, conversation: Conversation, moment: Moment) -> dict[str, Any]:
        now = self.due_pass.now
        who = self.names.get(conversation.contact_id, "a customer")
        if moment.kind == "ladder":
            assert moment.stage is not None
            stage = moment.stage
            by_email = self.due_pass.agents_by_email(self.session)
            people = self.due_pass.policy.people_for(stage.notify)
            agents = {
                by_email[p.email.lower()] for p in people if p.email and p.email.lower() in by_email
            }
            if "assignee" in stage.notify and conversation.assignee_id is not None:
                agents.add(conversation.assignee_id)
            return _ladder_stage(
                self.session,
                self.due_pass.policy,
                conversation,
                stage,
                moment.key,
                now,
                who=who,
                people=people,
                agents=sorted(agents),
                writes=self.writes,
            )
        if _warning_too_late(moment, now):
            return _skipped(moment)
        recipients = set(self.members.get(conversation.team_id or 0, []))
        if conversation.assignee_id is not None:
            recipients.add(conversation.assignee_id)
        return _tell_team(
            self.session,
            conversation,
            moment,
            who=who,
            recipients=sorted(recipients),
            writes=self.writes,
        )

    def finish(self) -> None:
        self.writes.write(self.session)


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


class _Writes:
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


def _store_next_timers(
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


def run_conversation(
    session: Session, policy: Policy, conversation: Conversation, now: datetime
) -> list[str]:
    """Run one conversation's due stages, each in its own transaction, then store its next
    timer. The conversation was just read from the database."""
    assert conversation.id is not None
    conversation_id = conversation.id
    if conversation.next_timer_at is None or conversation.next_timer_at > now:
        return []  # another process got here first
    fired = fired_keys(session, conversation_id)
    due_now = sorted(
        (
            m
            for m in moments(
                session, policy, conversation, active_escalation(session, conversation)
            )
            if m.at <= now and m.key not in fired
        ),
        key=lambda m: m.at,
    )
    out: list[str] = []
    failed = scheduled = False
    for i, moment in enumerate(due_now):
        # The last stage stores the next timer in its own commit: one transaction fewer.
        last = i == len(due_now) - 1
        try:
            ran = _run_stage(session, policy, conversation_id, moment, now, fired if last else None)
        except Exception:
            session.rollback()
            log.exception("stage %s of conversation %s failed", moment.key, conversation_id)
            failed = True
            break
        fired.add(moment.key)  # ran here, or already elsewhere
        if ran:
            out.append(moment.key)
            scheduled = last
    if not scheduled:
        _store_next_timer(session, policy, conversation_id, now, fired, failed=failed)
        session.commit()
    return out


def _store_next_timer(
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


def _claim(session: Session, run: SlaStageRun) -> bool:
    """Insert the stage's row; False when it already ran (here, elsewhere, before a restart)."""
    session.add(run)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        return False
    return True


class _EscalationRefused(Exception):
    pass


def _run_stage(
    session: Session,
    policy: Policy,
    conversation_id: int,
    moment: Moment,
    now: datetime,
    then_schedule: set[str] | None = None,
) -> bool:
    """Run one stage in its own transaction; False when it had already run or the ladder
    stopped. With `then_schedule` (the keys run so far), also store the next timer."""
    refused: str | None = None
    for escalate in (True, False):
        conversation = session.get(Conversation, conversation_id)
        assert conversation is not None
        if moment.kind == "ladder" and ladder_stopped(
            active_escalation(session, conversation, fresh=True)
        ):
            return False  # accepted meanwhile
        run = SlaStageRun(
            conversation_id=conversation_id,
            stage_key=moment.key,
            due_at=moment.at,
            fired_at=now,
            details={"kind": moment.kind},
        )
        if not _claim(session, run):
            return False
        if moment.kind == "ladder":
            assert moment.stage is not None
            stage = moment.stage
            people = policy.people_for(stage.notify)
            emails = [p.email for p in people if p.email]
            writes = _Writes()
            try:
                details = _ladder_stage(
                    session,
                    policy,
                    conversation,
                    stage,
                    run.stage_key,
                    now,
                    who=_contact_name(session, conversation),
                    people=people,
                    agents=_agents_to_notify(session, conversation, stage, emails),
                    writes=writes,
                    run=run,
                    escalate=escalate,
                    refused=refused,
                )
            except _EscalationRefused as exc:
                refused = str(exc)
                continue  # the stage still alerts and notifies, without the escalation
            writes.write(session)
        elif _warning_too_late(moment, now):
            details = _skipped(moment)
        else:
            writes = _Writes()
            details = _tell_team(
                session,
                conversation,
                moment,
                who=_contact_name(session, conversation),
                recipients=_team_and_assignee(session, conversation),
                writes=writes,
            )
            writes.write(session)
        run.details = details
        session.add(run)
        if then_schedule is not None:
            _store_next_timer(
                session, policy, conversation_id, now, then_schedule | {run.stage_key}
            )
        session.commit()
        return True
    return False


def _contact_name(session: Session, conversation: Conversation) -> str:
    contact = session.get(Contact, conversation.contact_id)
    return contact.name if contact and contact.name else "a customer"


def _utc(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC"


def _warning_too_late(moment: Moment, now: datetime) -> bool:
    # The timer was down past the breach too: a late warning would only add noise.
    return moment.kind == "warning" and moment.due_at is not None and moment.due_at <= now


def _skipped(moment: Moment) -> dict[str, Any]:
    return {"kind": "warning", "target": moment.target, "skipped": "breach came first"}


def _tell_team(
    session: Session,
    conversation: Conversation,
    moment: Moment,
    *,
    who: str,
    recipients: list[int],
    writes: _Writes,
) -> dict[str, Any]:
    """A warning or a breach: a notification to the assignee and every member of the team
    (`recipients`), added to `writes` for the caller to write with others."""
    assert conversation.id is not None and moment.target is not None
    label = LABELS[moment.target]
    if moment.kind == "warning":
        text = f"{label} due {_utc(moment.at if moment.due_at is None else moment.due_at)}"
    else:
        text = f"{label} overdue since {_utc(moment.at)}"
    text += f" on conversation #{conversation.id} ({who})"
    for agent_id in recipients:
        writes.notify(agent_id, f"sla_{moment.kind}", text, conversation.id)
    writes.record(
        f"sla.{moment.kind}",
        conversation.id,
        {"target": moment.target, "due_at": (moment.due_at or moment.at).isoformat()},
    )
    return {
        "kind": moment.kind,
        "target": moment.target,
        "due_at": (moment.due_at or moment.at).isoformat(),
        "notified": recipients,
    }


def _team_and_assignee(session: Session, conversation: Conversation) -> list[int]:
    ids: set[int] = set()
    if conversation.assignee_id is not None:
        ids.add(conversation.assignee_id)
    if conversation.team_id is not None:
        ids.update(
            session.exec(
                select(Membership.agent_id)
                .join(Agent, col(Agent.id) == col(Membership.agent_id))
                .where(
                    Membership.team_id == conversation.team_id,
                    col(Agent.deactivated_at).is_(None),
                )
            ).all()
        )
    return sorted(ids)


def _overdue(conversation: Conversation, now: datetime) -> list[str]:
    return [
        f"{LABELS[target]} overdue since {_utc(at)}"
        for target in TARGETS
        if (at := due(conversation, target)) is not None and at <= now
    ]


def _reason(conversation: Conversation, stage: Stage, now: datetime) -> str:
    if stage.after_hours is not None:
        first = f"Open for {stage.after_hours:g} h"
    elif stage.at == "warning":
        first = "An SLA target is close to its due time"
    else:
        first = "An SLA target was missed"
    return "; ".join([first, *_overdue(conversation, now)])


def _ladder_stage(
    session: Session,
    policy: Policy,
    conversation: Conversation,
    stage: Stage,
    stage_key: str,
    now: datetime,
    *,
    who: str,
    people: list[Person],
    agents: list[int],
    writes: _Writes,
    run: SlaStageRun | None = None,
    escalate: bool = False,
    refused: str | None = None,
) -> dict[str, Any]:
    """Alert the people the stage names, notify the Handoff agents among them (`agents`, added
    to `writes`), and escalate when the stage says so (given its `run`, which commits with the
    escalation): all in the stage's transaction."""
    assert conversation.id is not None
    current = active_escalation(session, conversation)
    waiting = current if current is not None and current.status == EscalationStatus.open else None
    summary = f"SLA ladder stage “{stage.name}”: {_reason(conversation, stage, now)}."
    lines = [
        f"{stage.name}: conversation #{conversation.id} ({who})",
        _reason(conversation, stage, now),
    ]
    if people:
        lines.append("For: " + ", ".join(f"{p.name} ({p.role.replace('_', ' ')})" for p in people))
    if waiting is not None and (brief := _brief_summary(waiting)):
        lines.append(f"Brief: {brief}")
    going_up = stage.escalate_tiers and escalate and run is not None
    if going_up:
        lines.append(f"Escalating {stage.escalate_tiers} tier(s) up.")
    text = "\n".join(lines)
    for agent_id in agents:
        writes.notify(agent_id, "sla_ladder", " ".join(lines[:2]), conversation.id)
    alerts = writes.alert(
        alert_targets(policy, people, stage.channels),
        text=text,
        conversation_id=conversation.id,
        escalation_id=waiting.id if waiting else None,
        stage_key=stage_key,
    )
    details: dict[str, Any] = {
        "kind": "ladder",
        "stage": stage.name,
        "notified": agents,
        "alerts": alerts,
    }
    if refused:
        details["escalation_refused"] = refused
    writes.record("sla.ladder", conversation.id, {k: v for k, v in details.items() if k != "kind"})
    if going_up:
        assert run is not None
        # do_escalate commits: what the stage wrote must be in that commit too.
        writes.write(session)
        run.details = details
        session.add(run)
        made = _escalate(session, conversation, stage, summary, now)
        details["escalation_id"] = made.id
        _point_alerts_at(session, alerts, made)
    return details


def _escalate(
    session: Session, conversation: Conversation, stage: Stage, summary: str, now: datetime
) -> Escalation:
    """do_escalate commits: the stage's row, alerts and notes commit with the escalation."""
    try:
        return escalations.do_escalate(
            session=session,
            conversation=conversation,
            actor=None,
            trigger=Trigger.sla,
            brief={"summary": summary},
            tier_up=stage.escalate_tiers,
            reason=f"SLA ladder: {stage.name}",
            now=now,
        )
    except HandoffError as exc:
        session.rollback()
        message = getattr(exc, "message", "") or str(exc) or type(exc).__name__
        log.warning("ladder stage %s could not escalate: %s", stage.name, message)
        raise _EscalationRefused(message) from exc


def _point_alerts_at(
    session: Session, alerts: list[dict[str, Any]], escalation: Escalation
) -> None:
    """Each alert offers the escalation it made, so that "Accept" in Slack can take it."""
    if alerts:
        session.execute(
            update(Alert)
            .where(col(Alert.id).in_([a["id"] for a in alerts]))
            .values(escalation_id=escalation.id)
        )


def _brief_summary(escalation: Escalation) -> str:
    brief = escalation.brief or {}
    value = brief.get("summary") or next((v for v in brief.values() if isinstance(v, str)), "")
    return str(value)[:300]


def _agents_to_notify(
    session: Session, conversation: Conversation, stage: Stage, emails: list[str]
) -> list[int]:
    """Handoff agents a stage names: the assignee, and people whose email is an agent's."""
    ids: set[int] = set()
    if "assignee" in stage.notify and conversation.assignee_id is not None:
        ids.add(conversation.assignee_id)
    if emails:
        wanted = [e.lower() for e in emails]
        ids.update(
            i
            for i in session.exec(
                select(Agent.id).where(
                    col(Agent.email).in_(wanted), col(Agent.deactivated_at).is_(None)
                )
            ).all()
            if i is not None
        )
    return sorted(ids)


def _bounce_due(session: Session, now: datetime) -> None:
    """Ask the escalation module to bounce escalations nobody accepted in time."""
    waiting = session.exec(
        select(Escalation.id)
        .where(
            Escalation.status == EscalationStatus.open,
            col(Escalation.bounce_due_at) <= now,
        )
        .limit(1)
    ).first()
    if waiting is None:
        return
    try:
        escalations.do_bounce_due(session=session, now=now)
    except Exception:
        session.rollback()
        log.exception("bouncing escalations failed")
