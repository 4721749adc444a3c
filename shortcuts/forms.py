"""From a button press to one escalation (docs/concepts/shortcuts.md).

`brief_form` turns a shortcut (or the generic "Escalate…" button) into the form to show: its
fields with the required ones marked. `escalate` turns what was typed into exactly one
`do_escalate` call, which checks the brief and either stores everything or nothing.
`slack_view` and `slack_values` carry the same form in a Slack modal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from inbox.errors import HandoffError, InvalidInput
from inbox.escalation import TOP_TIER, do_escalate
from inbox.models import Agent, Conversation, Escalation, Shortcut, Team
from inbox.shortcuts_store import fields_of

TARGET = "target"


@dataclass
class FormField:
    name: str
    label: str
    required: bool
    value: str = ""


@dataclass(frozen=True)
class TargetOption:
    """One choice of the generic form: a team, or (team None) that many tiers up."""

    value: str
    team: str | None
    tier: int


@dataclass
class BriefForm:
    conversation_id: int
    title: str
    fields: list[FormField]
    shortcut_id: int | None = None
    # Where a shortcut goes: a team, the team for a skill, or a tier.
    target_team: str | None = None
    target_skill: str | None = None
    target_tier: int = 0
    # The generic form offers these instead.
    targets: list[TargetOption] = field(default_factory=list)
    target: str = ""
    error: str | None = None
    error_field: str | None = None


def describe_target(
    session: Session, shortcut: Shortcut, conversation: Conversation
) -> dict[str, Any]:
    target = shortcut.target
    if "team_id" in target:
        team = session.get(Team, target["team_id"])
        return {"target_team": team.name if team else "?", "target_tier": team.tier if team else 0}
    if "skill" in target:
        return {"target_skill": str(target["skill"])}
    up = int(target.get("tier_up", 1))
    return {"target_tier": min(conversation.tier + up, TOP_TIER)}


def generic_targets(session: Session, conversation: Conversation) -> list[TargetOption]:
    """One tier up while there is one, then every other team."""
    options: list[TargetOption] = []
    if conversation.tier < TOP_TIER:
        options.append(TargetOption("up:1", None, conversation.tier + 1))
    teams = session.exec(select(Team).order_by(col(Team.tier), col(Team.name))).all()
    options += [
        TargetOption(f"team:{t.id}", t.name, t.tier) for t in teams if t.id != conversation.team_id
    ]
    return options


def brief_form(
    session: Session,
    conversation: Conversation,
    shortcut: Shortcut | None,
    values: Mapping[str, str] | None = None,
) -> BriefForm:
    values = values or {}
    assert conversation.id is not None
    fields = [
        FormField(f["name"], f["label"], bool(f.get("required")), values.get(f["name"], ""))
        for f in fields_of(shortcut)
    ]
    if shortcut is not None:
        return BriefForm(
            conversation_id=conversation.id,
            title=shortcut.label,
            fields=fields,
            shortcut_id=shortcut.id,
            **describe_target(session, shortcut, conversation),
        )
    return BriefForm(
        conversation_id=conversation.id,
        title="Escalate",
        fields=fields,
        targets=generic_targets(session, conversation),
        target=values.get(TARGET, ""),
    )


def with_error(form: BriefForm, exc: HandoffError) -> BriefForm:
    """The form again with the message beside the field it names (brief.tried -> tried)."""
    name = exc.detail.get("field") if isinstance(exc.detail, dict) else None
    name = str(name).removeprefix("brief.") if name else None
    if name in ("team_id", "tier", "skill", TARGET):
        name = TARGET
    form.error = exc.message
    form.error_field = name
    return form


def brief_from(shortcut: Shortcut | None, values: Mapping[str, str]) -> dict[str, Any]:
    """Only the fields this form asks for; the domain checks which are required."""
    return {f["name"]: values.get(f["name"], "") for f in fields_of(shortcut)}


def _generic_target(session: Session, raw: str) -> tuple[Team | None, int]:
    kind, _, value = raw.partition(":")
    if kind == "up" and value.isdigit():
        return None, int(value)
    if kind == "team" and value.isdigit():
        team = session.get(Team, int(value))
        if team is not None:
            return team, 0
    raise InvalidInput("Choose where to escalate to", {"field": TARGET})


def escalate(
    *,
    session: Session,
    conversation: Conversation,
    actor: Agent,
    shortcut: Shortcut | None,
    values: Mapping[str, str],
    now: datetime | None = None,
) -> Escalation:
    """The filled form as one escalation, triggered by the agent who pressed the button."""
    brief = brief_from(shortcut, values)
    if shortcut is not None:
        return do_escalate(
            session=session,
            conversation=conversation,
            actor=actor,
            trigger="agent",
            brief=brief,
            shortcut=shortcut,
            reason=shortcut.label,
            now=now,
        )
    to_team, tier_up = _generic_target(session, values.get(TARGET, ""))
    return do_escalate(
        session=session,
        conversation=conversation,
        actor=actor,
        trigger="agent",
        brief=brief,
        to_team=to_team,
        tier_up=tier_up,
        reason=values.get("reason", "").strip()[:500],
        now=now,
    )


# Slack: the same form as a modal (views.open with the shortcut's trigger_id).


def slack_view(form: BriefForm, callback_id: str) -> dict[str, Any]:
    """A Block Kit modal asking for the brief; `private_metadata` carries what to escalate."""
    blocks: list[dict[str, Any]] = []
    where = (
        form.target_team
        or form.target_skill
        or (f"L{form.target_tier}" if form.target_tier else "")
    )
    if where:
        blocks.append(
            {"type": "context", "elements": [{"type": "plain_text", "text": f"To {where}"}]}
        )
    for f in form.fields:
        blocks.append(
            {
                "type": "input",
                "block_id": f.name,
                "optional": not f.required,
                "label": {"type": "plain_text", "text": f.label[:2000]},
                "element": {
                    "type": "plain_text_input",
                    "action_id": f.name,
                    "multiline": True,
                    **({"initial_value": f.value} if f.value else {}),
                },
            }
        )
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": {"type": "plain_text", "text": form.title[:24]},
        "submit": {"type": "plain_text", "text": "Escalate"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": f"{form.conversation_id}:{form.shortcut_id or ''}",
        "blocks": blocks,
    }


def slack_values(state: Mapping[str, Any]) -> dict[str, str]:
    """The typed values from a view_submission's `view.state.values`."""
    values: dict[str, str] = {}
    for block_id, actions in state.items():
        if isinstance(actions, Mapping):
            for action in actions.values():
                if isinstance(action, Mapping) and isinstance(action.get("value"), str):
                    values[str(block_id)] = action["value"]
    return values
