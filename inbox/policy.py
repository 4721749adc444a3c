"""The escalation policy (docs/concepts/escalation-policy.md): one document the company owns.

Tiers and their teams, the escalation matrix, SLA policies with business-hours calendars,
ladders of stages, counter rules, routing per team, people to alert, customer message
templates and the L0 bot. Stored as one row (see policy_store.py), edited in the settings UI,
imported and exported as YAML, validated here with errors that name the bad field.

Only what the document alone can check lives here; whether its team names exist in the
database is checked on save (policy_store.py), so the built-in default validates on a fresh
install that has no teams yet.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from datetime import date
from itertools import pairwise
from typing import Annotated, Any, Literal

import holidays
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    NonNegativeFloat,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

RoutingMethod = Literal["direct", "round_robin", "least_busy", "least_idle", "skills"]
AlertChannel = Literal["slack", "email", "sms"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ChannelName = Literal[
    "webchat", "email", "slack", "telegram", "whatsapp", "messenger", "x", "twilio", "api"
]
PriorityName = Literal["low", "normal", "high", "urgent"]
TEMPLATE_PLACEHOLDERS = frozenset({"team", "agent", "contact", "conversation_id", "eta", "link"})
# Who a ladder stage may notify besides the people listed by name or role.
SPECIAL_RECIPIENTS = frozenset({"assignee"})
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}([_-][A-Za-z]{2,4})?$")
_PHONE = re.compile(r"^\+[1-9]\d{6,14}$")


def _clock_time(value: Any) -> Any:
    # YAML 1.1 reads an unquoted 17:00 as the base-60 number 1020; take it back as a time.
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 24 * 60:
        return f"{value // 60:02d}:{value % 60:02d}"
    return value


def _hhmm(value: str) -> str:
    if not _HHMM.match(value):
        raise ValueError(f"{value!r} is not a time like 09:00")
    return value


def _period(value: tuple[str, str]) -> tuple[str, str]:
    start, end = value
    if start >= end:
        raise ValueError(f"{start}-{end} ends before it starts; write periods like 09:00-17:00")
    return value


ClockTime = Annotated[str, BeforeValidator(_clock_time), AfterValidator(_hhmm)]
Period = Annotated[tuple[ClockTime, ClockTime], AfterValidator(_period)]


def _date_text(value: Any) -> Any:
    # YAML reads an unquoted 2025-12-24 as a date; the document keeps dates as text.
    return value.isoformat() if isinstance(value, date) else value


def _iso_date(value: str) -> str:
    try:
        date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a date like 2025-12-24") from exc
    return value


IsoDate = Annotated[str, BeforeValidator(_date_text), AfterValidator(_iso_date)]


def _reference_error(field: str, problem: str) -> PydanticCustomError:
    """An error about the document as a whole that still names the field at fault."""
    return PydanticCustomError("reference", "{problem}", {"field": field, "problem": problem})


def _duplicate(names: Iterable[str]) -> tuple[int, str] | None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            return i, name
        seen.add(name)
    return None


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Tier(Strict):
    level: int = Field(ge=0, le=3)
    name: str = Field(min_length=1)
    teams: list[str] = Field(default_factory=list, description="team names at this tier")


class MatrixRow(Strict):
    """Where one kind of problem goes at each tier: {"problem": "billing", "tiers": {1: ...}}."""

    problem: str = Field(min_length=1)
    description: str = Field(default="", description="examples, for the printed matrix")
    skill: str | None = None
    tiers: dict[Annotated[int, Field(ge=0, le=3)], str] = Field(
        description="tier level -> team name"
    )


class Calendar(Strict):
    name: str = Field(min_length=1)
    timezone: str = "UTC"
    # Several periods a day: {"mon": [["09:00", "12:00"], ["13:00", "17:00"]], ...}
    hours: dict[Weekday, list[Period]] = Field(default_factory=dict)
    holidays_country: str | None = Field(default=None, description="ISO code for `holidays`")
    holidays: list[IsoDate] = Field(default_factory=list, description="extra dates, YYYY-MM-DD")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("holidays_country", mode="before")
    @classmethod
    def _known_country(cls, value: Any) -> Any:
        if value is False:
            value = "NO"  # YAML 1.1 reads Norway's unquoted code as false.
        if isinstance(value, str) and value not in holidays.list_supported_countries():
            raise ValueError(f"no public holidays known for {value!r}; use a code like PL or DE")
        return value

    @field_validator("hours")
    @classmethod
    def _no_overlaps(cls, value: dict[Weekday, list[Period]]) -> dict[Weekday, list[Period]]:
        for day, periods in value.items():
            ordered = sorted(periods)
            for (_, end), (start, _) in pairwise(ordered):
                if start < end:
                    raise ValueError(f"{day}: periods overlap at {start}")
        return value


class SlaTargets(Strict):
    """Minutes of business time (or of wall time when the calendar is None)."""

    first_response: int | None = Field(default=None, gt=0)
    next_response: int | None = Field(default=None, gt=0)
    resolution: int | None = Field(default=None, gt=0)


class SlaPolicy(Strict):
    name: str = Field(min_length=1)
    # Empty means any; the first policy whose every non-empty list matches applies.
    priorities: list[PriorityName] = Field(default_factory=list)
    channels: list[ChannelName] = Field(default_factory=list)
    customer_tiers: list[str] = Field(default_factory=list)
    targets: SlaTargets
    calendar: str | None = None
    warn_at: float = Field(default=0.75, gt=0, lt=1, description="share of the target")

    def matches(self, priority: str, channel: str, customer_tier: str | None) -> bool:
        return (
            (not self.priorities or priority in self.priorities)
            and (not self.channels or channel in self.channels)
            and (not self.customer_tiers or customer_tier in self.customer_tiers)
        )


def _slack_only() -> list[AlertChannel]:
    return ["slack"]


class Stage(Strict):
    """One rung of a ladder: when it fires, who is told how, and whether it escalates."""

    name: str = Field(
        min_length=1, max_length=80, description="unique: a stage fires once per conversation"
    )
    at: Literal["warning", "breach"] | None = None
    after_hours: float | None = Field(default=None, gt=0, description="hours since opened")
    notify: list[str] = Field(default_factory=list, description="people or roles to alert")
    channels: list[AlertChannel] = Field(default_factory=lambda: _slack_only())
    escalate_tiers: int = Field(default=0, ge=0, le=3)

    @model_validator(mode="after")
    def _one_trigger(self) -> Stage:
        if (self.at is None) == (self.after_hours is None):
            raise ValueError("a stage needs exactly one of `at` or `after_hours`")
        return self


class Person(Strict):
    name: str = Field(min_length=1)
    role: str = Field(min_length=1, description="team_lead, manager, director, ...")
    email: str | None = None
    phone: str | None = Field(default=None, description="E.164, e.g. +48600100200")
    slack: str | None = Field(default=None, description="a Slack user or channel id")

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
            raise ValueError(f"{value!r} is not an email address")
        return value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is not None and not _PHONE.match(value.replace(" ", "")):
            raise ValueError(f"{value!r} is not a phone number like +48600100200")
        return value.replace(" ", "") if value else value


class Rules(Strict):
    reopen_limit: int = Field(default=3, ge=1, description="escalate on the reopen after this")
    reopen_team: str = "Customer Satisfaction"
    transfer_limit: int = Field(default=3, ge=1, description="ping-pong beyond this many")
    max_escalation_age_days: int = Field(default=30, ge=1)
    csat_review_below: int = Field(default=3, ge=1, le=5, description="ratings below open a review")
    acknowledge_minutes: int = Field(default=30, gt=0, description="accept or bounce a tier up")


def _template(text: str) -> str:
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        raise ValueError(f"{exc}; write a literal brace as {{{{ or }}}}") from exc
    for name in fields:
        if name not in TEMPLATE_PLACEHOLDERS:
            known = ", ".join("{" + p + "}" for p in sorted(TEMPLATE_PLACEHOLDERS))
            raise ValueError(f"unknown placeholder {{{name}}}; use {known}")
    return text


def _language(code: str) -> str:
    if not _LANGUAGE.match(code):
        raise ValueError(f"{code!r} is not a language code like en or pt_BR")
    return code


Language = Annotated[str, AfterValidator(_language)]
TemplateText = Annotated[str, AfterValidator(_template)]


class CustomerUpdates(Strict):
    cadence_minutes: int = Field(default=240, gt=0)
    business_hours_only: bool = True
    calendar: str | None = None
    min_gap_minutes: int = Field(default=15, ge=0, description="never two updates closer")
    # template key -> language -> text with {placeholders}
    templates: dict[str, dict[Language, TemplateText]] = Field(default_factory=dict)

    def template(self, key: str, language: str | None, fallback: str = "en") -> str | None:
        """The text for `key` in the customer's language (pt_BR, then pt), else in `fallback`."""
        texts = self.templates.get(key) or {}
        code = (language or "").replace("-", "_")
        for option in (code, code.split("_")[0], fallback):
            if option in texts:
                return texts[option]
        return None


class SlackSettings(Strict):
    channel: str | None = None
    bot_token: str | None = None
    signing_secret: str | None = None
    api_base: str = "https://slack.com/api/"


class Notifiers(Strict):
    slack: SlackSettings = Field(default_factory=SlackSettings)
    email_from: str = "handoff@localhost"
    # None: email alerts are not set up (a fresh install has no mail server to assume).
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from: str | None = None
    twilio_api_base: str = "https://api.twilio.com"


# Secrets a non-admin never sees (web/api_policy.py blanks them).
SECRET_FIELDS = (
    ("notifiers", "slack", "bot_token"),
    ("notifiers", "slack", "signing_secret"),
    ("notifiers", "twilio_auth_token"),
)


class CannedAnswer(Strict):
    keywords: list[str] = Field(min_length=1)
    answer: dict[Language, str] = Field(min_length=1, description="language -> text")


class Bot(Strict):
    enabled: bool = False
    answers: list[CannedAnswer] = Field(default_factory=list)
    handoff_phrases: list[str] = Field(default_factory=lambda: ["human", "agent", "person"])
    misses_before_handoff: int = Field(default=2, ge=1)
    handoff_team: str | None = None


class Policy(Strict):
    version: int = 1
    tiers: list[Tier] = Field(default_factory=list)
    matrix: list[MatrixRow] = Field(default_factory=list)
    calendars: list[Calendar] = Field(default_factory=list)
    sla: list[SlaPolicy] = Field(default_factory=list)
    ladder: list[Stage] = Field(default_factory=list)
    rules: Rules = Field(default_factory=Rules)
    routing: dict[str, RoutingMethod] = Field(default_factory=dict, description="team -> method")
    people: list[Person] = Field(default_factory=list)
    compensation_limits: dict[str, NonNegativeFloat] = Field(
        default_factory=lambda: {"agent": 50.0, "manager": 500.0, "admin": 5000.0}
    )
    customer_updates: CustomerUpdates = Field(default_factory=CustomerUpdates)
    notifiers: Notifiers = Field(default_factory=Notifiers)
    bot: Bot = Field(default_factory=Bot)

    @model_validator(mode="after")
    def _references(self) -> Policy:
        for problem in self._reference_problems():
            raise _reference_error(*problem)
        return self

    def _reference_problems(self) -> Iterable[tuple[str, str]]:
        """(field, problem) for every name the document uses but does not define."""
        for section, names in (
            ("tiers", [str(t.level) for t in self.tiers]),
            ("calendars", [c.name for c in self.calendars]),
            ("sla", [s.name for s in self.sla]),
            ("ladder", [s.name for s in self.ladder]),
            ("people", [p.name for p in self.people]),
            ("matrix", [m.problem for m in self.matrix]),
        ):
            if found := _duplicate(names):
                key = {"tiers": "level", "matrix": "problem"}.get(section, "name")
                yield (
                    f"{section}.{found[0]}.{key}",
                    f"{found[1]} appears twice; each must be unique",
                )
        calendars = {c.name for c in self.calendars}
        for i, sla in enumerate(self.sla):
            if sla.calendar and sla.calendar not in calendars:
                yield f"sla.{i}.calendar", f"no calendar named {sla.calendar!r}"
        if self.customer_updates.calendar and self.customer_updates.calendar not in calendars:
            name = self.customer_updates.calendar
            yield "customer_updates.calendar", f"no calendar named {name!r}"
        recipients = {p.name for p in self.people} | {p.role for p in self.people}
        for i, stage in enumerate(self.ladder):
            for j, who in enumerate(stage.notify):
                if who not in recipients | SPECIAL_RECIPIENTS:
                    yield (
                        f"ladder.{i}.notify.{j}",
                        f"nobody in people is named {who!r} or has that role",
                    )
        tier_teams = {t.level: set(t.teams) for t in self.tiers}
        for i, row in enumerate(self.matrix):
            for level, team in row.tiers.items():
                if level in tier_teams and team not in tier_teams[level]:
                    yield f"matrix.{i}.tiers.{level}", f"{team!r} is not a team of tier L{level}"

    # Lookups the engine uses; each reads the document and nothing else.

    def calendar(self, name: str | None) -> Calendar | None:
        return next((c for c in self.calendars if c.name == name), None) if name else None

    def people_for(self, names_or_roles: list[str]) -> list[Person]:
        wanted = set(names_or_roles)
        return [p for p in self.people if p.name in wanted or p.role in wanted]

    def sla_for(self, priority: str, channel: str, customer_tier: str | None) -> SlaPolicy | None:
        """The first SLA policy that matches, or None: then no targets apply."""
        return next((s for s in self.sla if s.matches(priority, channel, customer_tier)), None)

    def tier_of(self, team_name: str) -> int | None:
        return next((t.level for t in self.tiers if team_name in t.teams), None)

    def team_for(self, problem: str, level: int) -> str | None:
        """The matrix's team for a kind of problem at a tier."""
        row = next((m for m in self.matrix if m.problem == problem), None)
        return row.tiers.get(level) if row else None

    def routing_for(self, team_name: str) -> RoutingMethod | None:
        """How a team hands out conversations; None when the policy does not say: its agents
        pick conversations from the team's list themselves."""
        return self.routing.get(team_name)

    def team_names(self) -> list[tuple[str, str]]:
        """(field, team name) for every team the document names, for the save-time check."""
        found = [
            (f"tiers.{i}.teams.{j}", team)
            for i, tier in enumerate(self.tiers)
            for j, team in enumerate(tier.teams)
        ]
        found += [
            (f"matrix.{i}.tiers.{level}", team)
            for i, row in enumerate(self.matrix)
            for level, team in row.tiers.items()
        ]
        found += [(f"routing.{team}", team) for team in self.routing]
        found.append(("rules.reopen_team", self.rules.reopen_team))
        if self.bot.handoff_team:
            found.append(("bot.handoff_team", self.bot.handoff_team))
        return found
