"""SLA due times (docs/concepts/sla.md): which targets run, when each is due, when to act.

`on_change` runs inside every domain change's transaction (see lifecycle.py). It keeps the
conversation's due times right (first response, next response, resolution), pauses them while
the conversation is pending or snoozed, re-targets them when the priority picks another SLA
policy, and stores in `next_timer_at` the earliest moment the timer loop must act: a warning,
a breach, a ladder stage or an escalation's bounce. The loop (scheduler.py) and the stages it
runs (ladder.py) read the same `moments()`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NamedTuple

from sqlalchemy import bindparam
from sqlmodel import Session, select

from . import policy_store
from .calendar import add_business_time, business_time_between, in_business_hours
from .db import queue_event
from .events import Audience, Event
from .models import (
    Contact,
    Conversation,
    Escalation,
    EscalationStatus,
    Inbox,
    SlaStageRun,
    Status,
)
from .policy import Calendar, Policy, SlaPolicy, Stage
from .rows import assign, held

__all__ = ["current_policy", "in_business_hours", "moments", "next_timer", "on_change", "sla_json"]

Target = Literal["first_response", "next_response", "resolution"]
TARGETS: tuple[Target, ...] = ("first_response", "next_response", "resolution")
PAUSED = (Status.pending, Status.snoozed)
# Published after commit when a timer moves earlier, so the loop wakes for it (never to
# browsers: the audience is nobody).
TIMER_EVENT = "conversation.timer"
# Who has accepted an escalation: the ladder has done its job.
LADDER_STOPPED = (EscalationStatus.accepted, EscalationStatus.resolved)
# How soon the loop looks again at something it could not do (a failed stage, a bounce the
# escalation module has not made yet).
RETRY = timedelta(seconds=30)


class Moment(NamedTuple):
    """Something the timer must do at `at`, once: its `key` is unique per conversation.

    A named tuple, not a frozen dataclass: every customer message builds a conversation's
    moments (eight with the default ladder), and a frozen dataclass takes three times as long
    to build one."""

    key: str
    at: datetime
    kind: Literal["warning", "breach", "ladder"]
    target: Target | None = None
    stage: Stage | None = None
    due_at: datetime | None = None  # for a warning: when its target breaches


# --- the policy in force ---


def current_policy(session: Session) -> Policy:
    """The escalation policy in force (policy_store caches it per saved document)."""
    return policy_store.current_policy(session)


def choose_sla(
    policy: Policy, *, priority: str, channel: str, customer_tier: str | None
) -> SlaPolicy | None:
    """The first SLA policy whose every non-empty list (priority, channel, tier) matches."""
    for sla in policy.sla:
        if (
            (not sla.priorities or priority in sla.priorities)
            and (not sla.channels or channel in sla.channels)
            and (not sla.customer_tiers or customer_tier in sla.customer_tiers)
        ):
            return sla
    return None


def sla_for(session: Session, policy: Policy, conversation: Conversation) -> SlaPolicy | None:
    # The message path read both with the conversation: held, not asked for again.
    inbox = held(session, Inbox, conversation.inbox_id)
    contact = held(session, Contact, conversation.contact_id)
    return choose_sla(
        policy,
        priority=conversation.priority,
        channel=inbox.channel if inbox else "",
        customer_tier=contact.customer_tier if contact else None,
    )


def named(policy: Policy, name: str | None) -> SlaPolicy | None:
    return next((s for s in policy.sla if s.name == name), None) if name else None


def calendar_of(policy: Policy, sla: SlaPolicy | None) -> Calendar | None:
    return policy.calendar(sla.calendar) if sla else None


def minutes(sla: SlaPolicy | None, target: Target) -> int | None:
    value: int | None = getattr(sla.targets, target) if sla else None
    return value


def due(conversation: Conversation, target: Target) -> datetime | None:
    value: datetime | None = getattr(conversation, f"{target}_due_at")
    return value


def _set_due(conversation: Conversation, target: Target, value: datetime | None) -> None:
    _set(conversation, f"{target}_due_at", value)
    if target == "next_response" and value is None:
        _set(conversation, "next_response_since", None)


def _set(conversation: Conversation, name: str, value: datetime | None) -> None:
    # Only a real change: each assignment runs SQLAlchemy's bookkeeping, and most changes
    # leave most due times as they were (the UPDATE is the same either way).
    if getattr(conversation, name) != value:
        assign(conversation, **{name: value})


# --- keeping due times right on every change ---


def on_change(session: Session, conversation: Conversation, change: str, now: datetime) -> None:
    now = now.astimezone(UTC)  # every stored moment reads back as UTC
    policy = current_policy(session)
    if conversation.status == Status.resolved:
        _stop(conversation)
    else:
        if conversation.sla_started_at is None:
            conversation.sla_started_at = now
        _pause_or_resume(policy, conversation, now)
        sla = sla_for(session, policy, conversation)
        _retarget(policy, conversation, sla)
        _run_targets(policy, conversation, sla, change, now)
    _set(conversation, "sla_warn_at", _amber_at(policy, conversation))
    # A conversation born in this transaction has run no stage yet: skip that query.
    schedule(session, policy, conversation, now, fired=set() if change == "created" else None)


def _stop(conversation: Conversation) -> None:
    """Resolved: nothing runs. The policy's name stays, for the reports."""
    for target in TARGETS:
        _set_due(conversation, target, None)
    conversation.sla_paused_at = None
    conversation.sla_started_at = None


def _pause_or_resume(policy: Policy, conversation: Conversation, now: datetime) -> None:
    paused = conversation.status in PAUSED
    if paused and conversation.sla_paused_at is None:
        conversation.sla_paused_at = now
    elif not paused and conversation.sla_paused_at is not None:
        since = conversation.sla_paused_at
        calendar = calendar_of(policy, named(policy, conversation.sla_policy))
        held = business_time_between(calendar, since, now)
        for target in TARGETS:
            at = due(conversation, target)
            # A target already breached when the pause began stays breached.
            if at is not None and at > since:
                _set_due(conversation, target, add_business_time(calendar, at, held))
        conversation.sla_paused_at = None


def _retarget(policy: Policy, conversation: Conversation, sla: SlaPolicy | None) -> None:
    """Another SLA policy applies (say the priority went up): move each running due time by
    the difference between the targets, so time already spent and paused still counts."""
    if (sla.name if sla else None) == conversation.sla_policy:
        return
    old = named(policy, conversation.sla_policy)
    conversation.sla_policy = sla.name if sla else None
    if old is None:
        return
    calendar = calendar_of(policy, sla)
    for target in TARGETS:
        at, before, after = due(conversation, target), minutes(old, target), minutes(sla, target)
        if at is None:
            continue
        if before is None or after is None:
            _set_due(conversation, target, None)  # _run_targets starts it afresh if it applies
        else:
            _set_due(conversation, target, _shift(calendar, at, timedelta(minutes=after - before)))


def _shift(calendar: Calendar | None, at: datetime, delta: timedelta) -> datetime:
    """Move a due time by business time. Backwards, an instant that lands on an opening (13:00
    after lunch) is the same business moment as the close before it (12:00), and a due time
    reads as the earlier of the two, as adding forwards gives it."""
    moved = add_business_time(calendar, at, delta)
    if delta >= timedelta(0):
        return moved
    second = timedelta(seconds=1)
    return add_business_time(calendar, add_business_time(calendar, moved, -second), second)


def _run_targets(
    policy: Policy,
    conversation: Conversation,
    sla: SlaPolicy | None,
    change: str,
    now: datetime,
) -> None:
    calendar = calendar_of(policy, sla)

    def start(target: Target) -> None:
        target_minutes = minutes(sla, target)
        if target_minutes is None:
            _set_due(conversation, target, None)
        elif due(conversation, target) is None:
            _set_due(
                conversation,
                target,
                add_business_time(calendar, now, timedelta(minutes=target_minutes)),
            )

    if conversation.first_response_at is None:
        start("first_response")
    else:
        _set_due(conversation, "first_response", None)
    # A next response is owed from the customer's first unanswered message after the first
    # response; an agent's reply settles it.
    if change == "reply" or conversation.first_response_at is None:
        _set_due(conversation, "next_response", None)
    elif change in ("message", "reopened") and conversation.next_response_due_at is None:
        start("next_response")
        if conversation.next_response_due_at is not None:
            conversation.next_response_since = now
    elif minutes(sla, "next_response") is None:
        _set_due(conversation, "next_response", None)
    start("resolution")


# warning_at's answers: each change asks twice per running target (the amber time, then the
# timer's moments) and again on the next message, and business-time arithmetic on a calendar
# is the dearest part of it. Keyed by the policy objects' identity; an entry keeps them alive,
# so a key cannot be reused by another policy while it is here.
_WARNINGS: dict[tuple[int, int, str, datetime], tuple[Policy, SlaPolicy, datetime]] = {}
_WARNINGS_KEPT = 4_096


def warning_at(policy: Policy, sla: SlaPolicy, target: Target, due_at: datetime) -> datetime:
    """Amber from the moment less than (1 - warn_at) of the target is left: the same instant
    however long the clock was paused before it."""
    key = (id(policy), id(sla), target, due_at)
    known = _WARNINGS.get(key)
    if known is not None and known[0] is policy and known[1] is sla:
        return known[2]
    target_minutes = minutes(sla, target) or 0
    left = timedelta(minutes=target_minutes * (1 - sla.warn_at))
    at = add_business_time(calendar_of(policy, sla), due_at, -left)
    if len(_WARNINGS) >= _WARNINGS_KEPT:
        _WARNINGS.clear()
    _WARNINGS[key] = (policy, sla, at)
    return at


def _amber_at(policy: Policy, conversation: Conversation) -> datetime | None:
    sla = named(policy, conversation.sla_policy)
    if sla is None or conversation.sla_paused_at is not None:
        return None
    warnings = [
        warning_at(policy, sla, target, at)
        for target in TARGETS
        if (at := due(conversation, target)) is not None and minutes(sla, target)
    ]
    return min(warnings, default=None)


# --- what the timer must do, and when ---


def _ms(at: datetime | None) -> int:
    return int(at.timestamp() * 1000) if at else 0


def active_escalation(
    session: Session, conversation: Conversation, *, fresh: bool = False
) -> Escalation | None:
    """The conversation's current escalation (open or accepted; the escalation module clears
    the link when the conversation is resolved). `fresh` reads it again from the database."""
    if conversation.escalation_id is None:
        return None
    return session.get(Escalation, conversation.escalation_id, populate_existing=fresh)


def ladder_stopped(escalation: Escalation | None) -> bool:
    """Someone accepted the current escalation: later ladder stages do not run."""
    return escalation is not None and escalation.status in LADDER_STOPPED


def moments(
    session: Session, policy: Policy, conversation: Conversation, escalation: Escalation | None
) -> list[Moment]:
    """Every warning, breach and ladder stage of the current cycle, fired or not."""
    if conversation.status == Status.resolved:
        return []
    cycle = _ms(conversation.sla_started_at)
    out: list[Moment] = []
    warnings: list[datetime] = []
    breaches: list[datetime] = []
    sla = named(policy, conversation.sla_policy)
    if sla is not None and conversation.sla_paused_at is None:
        for target in TARGETS:
            at = due(conversation, target)
            if at is None or not minutes(sla, target):
                continue
            tag = (
                f"next_response.{_ms(conversation.next_response_since)}"
                if target == "next_response"
                else f"{target}.{cycle}"
            )
            warn = warning_at(policy, sla, target, at)
            out.append(Moment(f"{tag}.warning", warn, "warning", target, due_at=at))
            out.append(Moment(f"{tag}.breach", at, "breach", target, due_at=at))
            warnings.append(warn)
            breaches.append(at)
    if policy.ladder and not ladder_stopped(escalation):
        started = conversation.sla_started_at or conversation.created_at
        for stage in policy.ladder:
            when: datetime | None = None
            if stage.after_hours is not None:
                when = started + timedelta(hours=stage.after_hours)
            elif stage.at == "warning":
                when = min(warnings, default=None)
            elif stage.at == "breach":
                when = min(breaches, default=None)
            if when is not None:
                key = f"ladder.{cycle}.{stage.name}"[:120]
                out.append(Moment(key, when, "ladder", stage=stage))
    return out


# Built once: every customer message asks (building it cost as much as running it).
_FIRED_KEYS = select(SlaStageRun.stage_key).where(
    SlaStageRun.conversation_id == bindparam("conversation_id")
)


def fired_keys(session: Session, conversation_id: int) -> set[str]:
    return set(session.exec(_FIRED_KEYS, params={"conversation_id": conversation_id}).all())


def next_timer(
    session: Session,
    policy: Policy,
    conversation: Conversation,
    now: datetime,
    *,
    after_run: bool = False,
    fired: set[str] | None = None,
) -> datetime | None:
    """The earliest moment not yet acted on (past ones too: the loop catches up on them).

    `after_run`: the loop has just asked for due bounces; one still waiting is looked at
    again in a little while rather than at once, so a refusal cannot spin the loop.
    `fired`: the stage keys already run, when the caller has them.
    """
    if conversation.status == Status.resolved or conversation.id is None:
        return None
    escalation = active_escalation(session, conversation)
    upcoming = moments(session, policy, conversation, escalation)
    if fired is None:
        # When every moment is still ahead, the fired stages need not be read (a query on
        # every customer message): at worst one already ran before its moment moved later
        # (a pause), and the loop wakes for it once, finds it ran, and looks further.
        fired = set() if all(m.at > now for m in upcoming) else fired_keys(session, conversation.id)
    candidates = [m.at for m in upcoming if m.key not in fired]
    if (
        escalation is not None
        and escalation.status == EscalationStatus.open
        and escalation.bounce_due_at is not None
    ):
        bounce = escalation.bounce_due_at
        candidates.append(now + RETRY if after_run and bounce <= now else bounce)
    return min(candidates, default=None)


def sla_json(conversation: Conversation) -> dict[str, Any] | None:
    """The conversation's SLA state as the JSON API shows it; None without a policy."""
    if conversation.sla_policy is None:
        return None

    def iso(at: datetime | None) -> str | None:
        return at.astimezone(UTC).isoformat() if at else None

    return {
        "policy": conversation.sla_policy,
        "first_response_due_at": iso(conversation.first_response_due_at),
        "next_response_due_at": iso(conversation.next_response_due_at),
        "resolution_due_at": iso(conversation.resolution_due_at),
        "warning_at": iso(conversation.sla_warn_at),
        "paused_at": iso(conversation.sla_paused_at),
        "next_timer_at": iso(conversation.next_timer_at),
    }


def schedule(
    session: Session,
    policy: Policy,
    conversation: Conversation,
    now: datetime,
    *,
    fired: set[str] | None = None,
) -> None:
    """Store the next timer; wake the loop (after commit) when it moved earlier."""
    before = conversation.next_timer_at
    after = next_timer(session, policy, conversation, now, fired=fired)
    _set(conversation, "next_timer_at", after)
    if after is not None and (before is None or after < before) and conversation.id:
        queue_event(session, timer_moved(conversation.id, after))


def timer_moved(conversation_id: int, at: datetime) -> Event:
    return Event(
        TIMER_EVENT,
        {"conversation_id": conversation_id, "at": at.isoformat()},
        Audience(agent_ids=frozenset()),
    )
