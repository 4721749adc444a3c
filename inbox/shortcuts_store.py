"""Escalation shortcut buttons (docs/concepts/shortcuts.md): what admins define, and the brief
each one asks for before it escalates.

A shortcut is a label, a target (a team, a tier up, or a skill), the brief's fields with the
required ones marked, and optional actions run when it escalates.
"""

from __future__ import annotations

import re
from typing import Any

from sqlmodel import Session, col, select

from .audit import record
from .errors import InvalidInput
from .models import Agent, Priority, Shortcut, Team

FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_LABEL = 120
MAX_VALUE = 5_000
MAX_FIELDS = 12
ACTIONS = {
    "priority",
    "label",
    "customer_template",
    "slack_channel",
    "webhook_url",
    "webhook_secret",
}
# Without a shortcut the brief needs at least this.
SUMMARY = {"name": "summary", "label": "Summary", "required": True}


def _bad(message: str, field: str) -> InvalidInput:
    return InvalidInput(message, {"field": field})


def check_target(session: Session, target: Any) -> dict[str, Any]:
    """Exactly one of {"team_id": id}, {"tier_up": 1..3}, {"skill": "billing"}."""
    if not isinstance(target, dict) or len(target) != 1:
        raise _bad(
            'target must be one of {"team_id": id}, {"tier_up": 1} or {"skill": "billing"}',
            "target",
        )
    ((key, value),) = target.items()
    if key == "team_id":
        if (
            not isinstance(value, int)
            or isinstance(value, bool)
            or session.get(Team, value) is None
        ):
            raise _bad(f"target.team_id: no team {value!r}", "target.team_id")
        return {"team_id": value}
    if key == "tier_up":
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 3:
            raise _bad("target.tier_up must be 1, 2 or 3", "target.tier_up")
        return {"tier_up": value}
    if key == "skill":
        if not isinstance(value, str) or not value.strip():
            raise _bad("target.skill must be a skill's name, like billing", "target.skill")
        return {"skill": value.strip().lower()}
    raise _bad(f"target.{key} is not a target; use team_id, tier_up or skill", f"target.{key}")


def check_brief_fields(fields: Any) -> list[dict[str, Any]]:
    if not isinstance(fields, list) or not fields:
        raise _bad("brief_fields must list at least one field", "brief_fields")
    if len(fields) > MAX_FIELDS:
        raise _bad(f"brief_fields: at most {MAX_FIELDS} fields", "brief_fields")
    out: list[dict[str, Any]] = []
    for i, item in enumerate(fields):
        where = f"brief_fields.{i}"
        if not isinstance(item, dict) or set(item) - {"name", "label", "required"}:
            raise _bad(f"{where} must be {{name, label, required}}", where)
        name = item.get("name")
        if not isinstance(name, str) or not FIELD_NAME.match(name):
            raise _bad(f"{where}.name must be lowercase letters, digits and _", f"{where}.name")
        if any(f["name"] == name for f in out):
            raise _bad(f"{where}.name: {name} appears twice", f"{where}.name")
        label = item.get("label") or name.replace("_", " ").capitalize()
        if not isinstance(label, str) or len(label) > MAX_LABEL:
            raise _bad(f"{where}.label must be text", f"{where}.label")
        required = item.get("required", False)
        if not isinstance(required, bool):
            raise _bad(f"{where}.required must be true or false", f"{where}.required")
        out.append({"name": name, "label": label.strip(), "required": required})
    return out


def check_actions(actions: Any) -> dict[str, Any]:
    if actions is None:
        return {}
    if not isinstance(actions, dict):
        raise _bad("actions must be an object", "actions")
    for key, value in actions.items():
        if key not in ACTIONS:
            raise _bad(
                f"actions.{key} is not an action; use {', '.join(sorted(ACTIONS))}",
                f"actions.{key}",
            )
        if not isinstance(value, str):
            raise _bad(f"actions.{key} must be text", f"actions.{key}")
    cleaned = {k: v.strip() for k, v in actions.items() if v.strip()}
    if "priority" in cleaned and cleaned["priority"] not in {p.value for p in Priority}:
        raise _bad("actions.priority must be low, normal, high or urgent", "actions.priority")
    url = cleaned.get("webhook_url", "")
    if url and not url.startswith(("https://", "http://")):
        raise _bad("actions.webhook_url must start with https://", "actions.webhook_url")
    return cleaned


def check_label(label: Any) -> str:
    if not isinstance(label, str) or not label.strip():
        raise _bad("label is required", "label")
    if len(label.strip()) > MAX_LABEL:
        raise _bad(f"label: at most {MAX_LABEL} characters", "label")
    return label.strip()


def fields_of(shortcut: Shortcut | None) -> list[dict[str, Any]]:
    return list(shortcut.brief_fields) if shortcut is not None else [SUMMARY]


def check_brief(shortcut: Shortcut | None, brief: Any) -> dict[str, Any]:
    """The brief as stored: text values trimmed, every required field present.

    Raises InvalidInput naming the first missing field (`brief.<name>`).
    """
    if brief is None:
        brief = {}
    if not isinstance(brief, dict):
        raise _bad("brief must be an object", "brief")
    cleaned: dict[str, Any] = {}
    for key, value in brief.items():
        if not isinstance(key, str) or len(key) > 40:
            raise _bad("brief keys must be short names", "brief")
        if key == "labels" and isinstance(value, list):
            cleaned[key] = [str(v)[:60] for v in value if isinstance(v, str)]
            continue
        if value is None:
            continue
        if not isinstance(value, str):
            raise _bad(f"brief.{key} must be text", f"brief.{key}")
        if len(value) > MAX_VALUE:
            raise _bad(f"brief.{key}: at most {MAX_VALUE} characters", f"brief.{key}")
        if value.strip():
            cleaned[key] = value.strip()
    for field in fields_of(shortcut):
        if field.get("required") and not cleaned.get(field["name"]):
            raise _bad(f"{field['label']} is required in the brief", f"brief.{field['name']}")
    return cleaned


def format_brief(shortcut: Shortcut | None, brief: dict[str, Any]) -> str:
    """ "Problem: …\\nTried: …", in the shortcut's order, then anything else given."""
    labels = {f["name"]: f["label"] for f in fields_of(shortcut)}
    order = [*labels, *(k for k in brief if k not in labels and k != "labels")]
    lines = [
        f"{labels.get(name, name.replace('_', ' ').capitalize())}: {brief[name]}"
        for name in order
        if isinstance(brief.get(name), str) and brief[name]
    ]
    return "\n".join(lines)


def list_shortcuts(session: Session, *, active_only: bool = False) -> list[Shortcut]:
    query = select(Shortcut).order_by(col(Shortcut.position), col(Shortcut.id))
    if active_only:
        query = query.where(col(Shortcut.active).is_(True))
    return list(session.exec(query).all())


def do_create_shortcut(
    *,
    session: Session,
    label: Any,
    target: Any,
    brief_fields: Any,
    actions: Any = None,
    active: bool = True,
    actor: Agent | None = None,
) -> Shortcut:
    last = session.exec(select(Shortcut.position).order_by(col(Shortcut.position).desc())).first()
    shortcut = Shortcut(
        label=check_label(label),
        target=check_target(session, target),
        brief_fields=check_brief_fields(brief_fields),
        actions=check_actions(actions),
        active=active,
        position=(last or 0) + 1,
    )
    session.add(shortcut)
    session.flush()
    record(session, "shortcut.created", actor=actor, details={"shortcut_id": shortcut.id})
    session.commit()
    return shortcut


def do_update_shortcut(
    *, session: Session, shortcut: Shortcut, changes: dict[str, Any], actor: Agent | None = None
) -> Shortcut:
    """`changes` holds any of label, target, brief_fields, actions, active, position."""
    if "label" in changes:
        shortcut.label = check_label(changes["label"])
    if "target" in changes:
        shortcut.target = check_target(session, changes["target"])
    if "brief_fields" in changes:
        shortcut.brief_fields = check_brief_fields(changes["brief_fields"])
    if "actions" in changes:
        shortcut.actions = check_actions(changes["actions"])
    if "active" in changes:
        if not isinstance(changes["active"], bool):
            raise _bad("active must be true or false", "active")
        shortcut.active = changes["active"]
    if "position" in changes:
        position = changes["position"]
        if not isinstance(position, int) or isinstance(position, bool):
            raise _bad("position must be a number", "position")
        shortcut.position = position
    session.add(shortcut)
    record(
        session,
        "shortcut.updated",
        actor=actor,
        details={"shortcut_id": shortcut.id, "changed": sorted(changes)},
    )
    session.commit()
    return shortcut


BRIEF = [
    {"name": "problem", "label": "Problem", "required": True},
    {"name": "tried", "label": "What was tried", "required": True},
    {"name": "impact", "label": "Customer impact", "required": False},
    {"name": "needed", "label": "What is needed", "required": True},
]


def seed_shortcuts(session: Session) -> list[Shortcut]:
    """Three demo buttons, on a database without any: functional by team, hierarchical, and
    by skill. Commits."""
    if session.exec(select(Shortcut.id)).first() is not None:
        return []
    billing = session.exec(select(Team).where(Team.name == "Billing")).first()
    made: list[Shortcut] = []
    if billing is not None:
        made.append(
            do_create_shortcut(
                session=session,
                label="Escalate to Billing",
                target={"team_id": billing.id},
                brief_fields=BRIEF,
                actions={"priority": "high", "label": "billing", "customer_template": "escalated"},
            )
        )
    made.append(
        do_create_shortcut(
            session=session,
            label="Up a tier",
            target={"tier_up": 1},
            brief_fields=[
                {"name": "problem", "label": "Problem", "required": True},
                {"name": "why", "label": "Why it needs a higher level", "required": True},
                {"name": "promised", "label": "What the customer was promised", "required": False},
            ],
        )
    )
    made.append(
        do_create_shortcut(
            session=session,
            label="Technical: API issue",
            target={"skill": "api"},
            brief_fields=[
                {"name": "problem", "label": "Problem", "required": True},
                {"name": "endpoint", "label": "Endpoint or request id", "required": False},
                {"name": "tried", "label": "What was tried", "required": True},
            ],
            actions={"priority": "high", "label": "api"},
        )
    )
    return made
