"""Alert rows (docs/concepts/sla.md#alerts): one per person per channel, pending until sent.

The rows are written in the transaction that decides to alert; an `alert.created` event,
published after the commit, tells the sender. Alerts still pending when the process stops
are sent on the next start.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from ..db import Database, queue_event
from ..events import Audience, Event
from ..models import Alert
from ..policy import AlertChannel, Person, Policy

ALERT_EVENT = "alert.created"
PENDING = "pending"
SENT = "sent"
FAILED = "failed"


def alert_created(alert_id: int) -> Event:
    # Nobody's browser hears of it: the sender alone listens.
    return Event(ALERT_EVENT, {"alert_id": alert_id}, Audience(agent_ids=frozenset()))


def add_alert(
    session: Session,
    *,
    channel: AlertChannel,
    target: str,
    text: str,
    conversation_id: int | None,
    escalation_id: int | None = None,
    stage_key: str = "",
    announce: bool = True,
) -> Alert:
    """A pending alert; with `announce`, the sender hears of it once the caller commits."""
    alert = Alert(
        conversation_id=conversation_id,
        escalation_id=escalation_id,
        stage_key=stage_key[:120],
        channel=channel,
        target=target[:320],
        text=text,
        status=PENDING,
    )
    session.add(alert)
    session.flush()
    if announce:
        announce_alerts(session, [alert])
    return alert


def announce_alerts(session: Session, alerts: list[Alert]) -> None:
    for alert in alerts:
        assert alert.id is not None
        queue_event(session, alert_created(alert.id))


def alert_targets(
    policy: Policy, people: list[Person], channels: list[AlertChannel]
) -> list[tuple[AlertChannel, str]]:
    """Where alerts for `people` on each of `channels` go, each place once.

    Slack goes to the policy's channel once, naming everyone, when the policy has one;
    otherwise to each person's own Slack id. Email and SMS go to each person.
    """
    targets: list[tuple[AlertChannel, str]] = []
    for channel in channels:
        if channel == "slack":
            shared = policy.notifiers.slack.channel
            if shared:
                targets.append(("slack", shared))
            else:
                targets += [("slack", p.slack) for p in people if p.slack]
        elif channel == "email":
            targets += [("email", p.email) for p in people if p.email]
        else:
            targets += [("sms", p.phone) for p in people if p.phone]
    return list(dict.fromkeys(targets))


def alert_people(
    session: Session,
    policy: Policy,
    *,
    people: list[Person],
    channels: list[AlertChannel],
    text: str,
    conversation_id: int | None,
    escalation_id: int | None = None,
    stage_key: str = "",
    announce: bool = True,
) -> list[Alert]:
    """Alerts for `people` on each of `channels`, where they have an address for it
    (`alert_targets`)."""
    return [
        add_alert(
            session,
            channel=channel,
            target=target,
            text=text,
            conversation_id=conversation_id,
            escalation_id=escalation_id,
            stage_key=stage_key,
            announce=announce,
        )
        for channel, target in alert_targets(policy, people, channels)
    ]


# What this package sends; other pending rows (an escalation's outgoing webhook) belong to
# their own sender.
CHANNELS = ("slack", "email", "sms")


def pending_alert_ids(db: Database, *, escalation_id: int | None = None) -> list[int]:
    """Alerts still to send: all of them, or those of one escalation."""
    query = select(Alert.id).where(Alert.status == PENDING, col(Alert.channel).in_(CHANNELS))
    if escalation_id is not None:
        query = query.where(Alert.escalation_id == escalation_id)
    with db.session() as session:
        rows = session.exec(query.order_by(col(Alert.id))).all()
    return [i for i in rows if i is not None]
