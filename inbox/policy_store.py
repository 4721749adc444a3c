"""Loading, checking and saving the escalation policy (docs/concepts/escalation-policy.md).

Each save is a new PolicyDocument row, so the history stays; the newest row is the policy in
force, and a database without one uses the built-in default (policy_defaults.py). Every
incoming message asks for SLA targets, so the parsed policy is cached per row.
"""

from __future__ import annotations

import copy
import time
from datetime import datetime
from functools import cache
from typing import Any
from weakref import WeakKeyDictionary

import yaml
from pydantic import ValidationError
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, col, select

from . import audit
from .clock import utcnow
from .errors import InvalidInput
from .models import Agent, PolicyDocument, Team
from .policy import SECRET_FIELDS, Policy
from .policy_defaults import DEFAULT_POLICY

YAML_HEADER = (
    "# Handoff escalation policy. Import with `handoff import-policy FILE` or PUT /api/v1/policy.\n"
    "# Every section and field: docs/concepts/escalation-policy.md\n"
)
# The parsed policy in force, per engine: (row id, saved at) and the Policy, or None and the
# default when no document is saved. Per engine, not per URL: a test database emptied and
# refilled reuses ids, but never with the same engine.
_parsed: WeakKeyDictionary[Engine, tuple[tuple[int, datetime] | None, Policy]] = WeakKeyDictionary()
_checked_at: WeakKeyDictionary[Engine, float] = WeakKeyDictionary()
RECHECK_SECONDS = 1.0
_SAVED = "handoff_policy_saved"  # session.info: a PolicyDocument was flushed in this transaction


def forget_cached_policy(engine: Engine) -> None:
    """A save in this process is in force at once, not a second later."""
    _parsed.pop(engine, None)
    _checked_at.pop(engine, None)


def _field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _problems(exc: ValidationError) -> list[dict[str, str]]:
    """One {"field", "message"} per error, the field as a dotted path (sla.1.targets.x)."""
    found: list[dict[str, str]] = []
    for error in exc.errors(include_url=False):
        context = error.get("ctx") or {}
        field = str(context.get("field") or _field(error["loc"]) or "policy")
        message = str(error["msg"]).removeprefix("Value error, ")
        found.append({"field": field, "message": message})
    return found


def invalid(problems: list[dict[str, str]]) -> InvalidInput:
    """One error for the lot: the first problem in the message, all of them in the detail."""
    first = problems[0]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return InvalidInput(
        f"{first['field']}: {first['message']}{more}",
        {"field": first["field"], "errors": problems},
    )


def parse_policy(data: Any) -> Policy:
    """A Policy from plain data; InvalidInput naming the first bad field otherwise."""
    if not isinstance(data, dict):
        raise InvalidInput(
            "the policy must be a mapping of sections (tiers, sla, ladder, ...)",
            {"field": "policy"},
        )
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise invalid(_problems(exc)) from exc


@cache
def _default() -> Policy:
    return parse_policy(copy.deepcopy(DEFAULT_POLICY))


def default_policy() -> Policy:
    """The built-in policy, a fresh copy each time (callers may change theirs)."""
    return _default().model_copy(deep=True)


def as_data(policy: Policy, *, secrets: bool = True) -> dict[str, Any]:
    """The document as JSON-ready data, the shape stored and served by the API.

    `secrets=False` blanks the Slack and Twilio credentials, for readers who are not admins.
    """
    data = policy.model_dump(mode="json")
    if not secrets:
        for *path, key in SECRET_FIELDS:
            section = data
            for part in path:
                section = section[part]
            if section.get(key):
                section[key] = None
    return data


def current_policy(session: Session) -> Policy:
    """The policy in force: the newest saved document, else the built-in default.

    The result is shared between callers (it is cached): read it, do not change it. Every
    incoming message asks, so the database is asked again at most once a second: a policy
    saved by another process is in force within a second; one saved here at once.
    """
    engine = session.get_bind().engine
    cached = _parsed.get(engine)
    checked = _checked_at.get(engine)
    if cached is not None and checked is not None and time.monotonic() - checked < RECHECK_SECONDS:
        return cached[1]
    with session.no_autoflush:
        latest = session.exec(
            select(PolicyDocument.id, PolicyDocument.saved_at)
            .order_by(col(PolicyDocument.id).desc())
            .limit(1)
        ).first()
    _checked_at[engine] = time.monotonic()
    if latest is None:
        # Cached too: without it a database that never saved a policy (the common first
        # weeks) paid this query on every incoming message.
        _parsed[engine] = (None, _default())
        return _default()
    doc_id, saved_at = latest
    assert doc_id is not None
    if cached is not None and cached[0] == (doc_id, saved_at):
        return cached[1]
    document = session.get(PolicyDocument, doc_id)
    assert document is not None
    # A row written by an older version may no longer validate; say which field, not 500.
    policy = parse_policy(document.document)
    _parsed[engine] = ((doc_id, saved_at), policy)
    return policy


@event.listens_for(OrmSession, "after_flush")
def _note_saved_document(session: OrmSession, _context: Any) -> None:
    if any(isinstance(obj, PolicyDocument) for obj in session.new):
        session.info[_SAVED] = True


@event.listens_for(OrmSession, "after_commit")
def _forget_after_save(session: OrmSession) -> None:
    # A document stored in this process by any path (do_save_policy, a seed, a test's own
    # row) is in force from the next read, through every engine on that database (the app's
    # and a script's), as before the "no document" answer was cached.
    if session.info.pop(_SAVED, False):
        url = session.get_bind().engine.url
        for engine in [e for e in list(_parsed) if e.url == url]:
            forget_cached_policy(engine)


@event.listens_for(OrmSession, "after_rollback")
def _saved_nothing(session: OrmSession) -> None:
    session.info.pop(_SAVED, None)


def check_teams_exist(session: Session, policy: Policy) -> None:
    """Every team the document names is a team in the database; else 422 naming the field."""
    known = set(session.exec(select(Team.name)).all())
    problems = [
        {"field": field, "message": f"no team named {name!r}; add it under Settings → Teams"}
        for field, name in policy.team_names()
        if name not in known
    ]
    if problems:
        raise invalid(problems)


def do_save_policy(
    *, session: Session, policy: Policy, actor: Agent | None, now: datetime | None = None
) -> PolicyDocument:
    """Check the policy against the database, store it as the one in force, audit, commit."""
    # Validate again: the caller may have built or changed the object by hand.
    checked = parse_policy(as_data(policy))
    check_teams_exist(session, checked)
    document = PolicyDocument(
        document=as_data(checked),
        saved_by_agent_id=actor.id if actor else None,
        saved_at=now or utcnow(),
    )
    session.add(document)
    session.flush()
    # Not the document itself: it may hold Slack and Twilio secrets.
    audit.record(
        session,
        "policy.saved",
        actor=actor,
        actor_kind=None if actor else "cli",
        details={"policy_document_id": document.id, "sla_policies": len(checked.sla)},
    )
    session.commit()
    forget_cached_policy(session.get_bind().engine)
    return document


# YAML, for people: import and export


class _Dumper(yaml.SafeDumper):
    """Block style throughout, multi-line texts (the escalation letter) as `|` blocks."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _scalars(items: list[Any]) -> bool:
    return all(isinstance(i, str | int | float | bool) or i is None for i in items)


def _list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.SequenceNode:
    # Short lists of names and periods read best on one line: `channels: [slack, sms]`.
    flat = _scalars(value) or all(isinstance(i, list) and _scalars(i) for i in value)
    short = flat and "\n" not in repr(value) and len(repr(value)) < 72
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=short)


_Dumper.add_representer(str, _text)
_Dumper.add_representer(list, _list)


def policy_to_yaml(policy: Policy, *, secrets: bool = True) -> str:
    data = as_data(policy, secrets=secrets)
    # JSON turned the matrix's tier levels into strings; YAML can keep them numbers.
    for row in data["matrix"]:
        row["tiers"] = {int(level): team for level, team in row["tiers"].items()}
    # No wrapping: a long template stays one line, as people edit it.
    body = yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=10_000)
    return YAML_HEADER + body


def policy_from_yaml(text: str) -> Policy:
    """A Policy from YAML text; a syntax error names its line, a bad value its field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        if mark is None:
            raise InvalidInput(f"not valid YAML: {problem}", {"field": "yaml"}) from exc
        line, column = mark.line + 1, mark.column + 1
        raise InvalidInput(
            f"YAML syntax error on line {line}, column {column}: {problem}",
            {"field": "yaml", "line": line, "column": column},
        ) from exc
    return parse_policy(data)
