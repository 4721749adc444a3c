"""Priority from the customer's value, severity and impact (docs/concepts/rules.md#priority).

Points add up from three columns, and the total picks the priority:

| severity | points | impact | points | customer value | points |
| --- | --- | --- | --- | --- | --- |
| low | 0 | user (one person) | 0 | standard | 0 |
| normal | 1 | team | 1 | gold, or lifetime value ≥ 10,000 | 1 |
| high | 3 | company (everyone) | 2 | vip, or lifetime value ≥ 50,000 | 2 |
| critical | 4 | | | | |

| total | 0 | 1–2 | 3–4 | 5 and more |
| --- | --- | --- | --- | --- |
| priority | low | normal | high | urgent |

So a normal question from a standard customer is normal, the same from a VIP is high, a high
severity problem is at least high, and one that stops a whole company, or a critical one for a
team, is urgent. Setting the severity only ever raises the priority; an agent lowers it by hand.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from .audit import record
from .clock import utcnow
from .conversation_writes import _activity, _touch
from .errors import InvalidInput
from .models import Agent, Contact, Conversation, Priority

SEVERITY_POINTS = {"low": 0, "normal": 1, "high": 3, "critical": 4}
IMPACT_POINTS = {"user": 0, "team": 1, "company": 2}
TIER_POINTS = {"standard": 0, "gold": 1, "vip": 2}
# Lifetime value thresholds that count like a tier, highest first.
VALUE_POINTS = ((50_000.0, 2), (10_000.0, 1))
# Lowest total for each priority, highest first.
PRIORITY_AT = ((5, Priority.urgent), (3, Priority.high), (1, Priority.normal), (0, Priority.low))
ORDER = [Priority.low, Priority.normal, Priority.high, Priority.urgent]


def check_severity(severity: str) -> str:
    if severity not in SEVERITY_POINTS:
        raise InvalidInput("severity must be low, normal, high or critical", {"field": "severity"})
    return severity


def check_impact(impact: str) -> str:
    if impact not in IMPACT_POINTS:
        raise InvalidInput("impact must be user, team or company", {"field": "impact"})
    return impact


def value_points(contact: Contact | None) -> int:
    """The customer's value: their tier, or their lifetime value if that says more."""
    if contact is None:
        return 0
    by_tier = TIER_POINTS.get(contact.customer_tier.lower(), 0)
    by_value = next((p for at, p in VALUE_POINTS if contact.lifetime_value >= at), 0)
    return max(by_tier, by_value)


def suggest_priority(contact: Contact | None, severity: str, impact: str) -> str:
    """The priority the table above gives; raises InvalidInput on an unknown word."""
    points = (
        SEVERITY_POINTS[check_severity(severity)]
        + IMPACT_POINTS[check_impact(impact)]
        + value_points(contact)
    )
    return next(priority for at, priority in PRIORITY_AT if points >= at).value


def is_higher(priority: str, than: str) -> bool:
    rank = {p.value: i for i, p in enumerate(ORDER)}
    return rank.get(priority, 0) > rank.get(than, 0)


def describe_value(contact: Contact | None) -> str:
    """How an agent reads the customer's value: "VIP, lifetime value 62,000.00"."""
    if contact is None:
        return "unknown customer"
    tier = {"vip": "VIP"}.get(contact.customer_tier.lower(), contact.customer_tier.capitalize())
    return f"{tier}, lifetime value {contact.lifetime_value:,.2f}"


def do_set_severity(
    *,
    session: Session,
    conversation: Conversation,
    severity: str,
    impact: str,
    actor: Agent | None,
    now: datetime | None = None,
) -> Conversation:
    """Store the severity; raise the priority when the table says it should be higher than it
    is (never lower it). An activity line says what and why; audited; commits."""
    now = now or utcnow()
    severity, impact = check_severity(severity), check_impact(impact)
    contact = session.get(Contact, conversation.contact_id)
    suggested = suggest_priority(contact, severity, impact)
    before = conversation.priority
    raised = is_higher(suggested, before)
    if severity == conversation.severity and not raised:
        return conversation
    conversation.severity = severity
    text = f"Severity set to {severity} (impact: {impact})"
    if raised:
        conversation.priority = suggested
        text += f"; priority raised from {before} to {suggested} ({describe_value(contact)})"
    _activity(session, conversation, text + (f" by {actor.name}" if actor else ""), now)
    record(
        session,
        "conversation.severity",
        actor=actor,
        conversation_id=conversation.id,
        details={
            "severity": severity,
            "impact": impact,
            "suggested": suggested,
            "priority": conversation.priority,
            "raised": raised,
        },
    )
    # "priority" tells the SLA to pick targets again; a severity alone changes no timer.
    _touch(session, conversation, "priority" if raised else "severity", now)
    session.commit()
    return conversation
