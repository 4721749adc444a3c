"""The escalation policy (docs/concepts/escalation-policy.md): one document the company owns.

Tiers and their teams, the escalation matrix, SLA policies with business-hours calendars,
ladders of stages, counter rules, routing per team, people to alert, customer message
templates and the L0 bot. Stored as one row (see policy_store.py), edited in the settings UI,
imported and exported as YAML, validated here with errors that name the bad field.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

RoutingMethod = Literal["direct", "round_robin", "least_busy", "least_idle", "skills"]
AlertChannel = Literal["slack", "email", "sms"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Tier(Strict):
    level: int = Field(ge=0, le=3)
    name: str
    teams: list[str] = Field(default_factory=list, description="team names at this tier")


class MatrixRow(Strict):
    """Where one kind of problem goes at each tier: {"problem": "billing", "tiers": {1: ...}}."""

    problem: str
    skill: str | None = None
    tiers: dict[int, str] = Field(description="tier level -> team name")


class Calendar(Strict):
    name: str
    timezone: str = "UTC"
    # Several periods a day: {"mon": [["09:00", "12:00"], ["13:00", "17:00"]], ...}
    hours: dict[Weekday, list[tuple[str, str]]] = Field(default_factory=dict)
    holidays_country: str | None = Field(default=None, description="ISO code for `holidays`")
    holidays: list[str] = Field(default_factory=list, description="extra dates, YYYY-MM-DD")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("hours")
    @classmethod
    def _periods(
        cls, value: dict[Weekday, list[tuple[str, str]]]
    ) -> dict[Weekday, list[tuple[str, str]]]:
        for day, periods in value.items():
            for start, end in periods:
                if not _HHMM.match(start) or not _HHMM.match(end) or start >= end:
                    raise ValueError(f"{day}: {start}-{end} is not a period like 09:00-17:00")
        return value


class SlaTargets(Strict):
    """Minutes of business time (or of wall time when the calendar is None)."""

    first_response: int | None = Field(default=None, gt=0)
    next_response: int | None = Field(default=None, gt=0)
    resolution: int | None = Field(default=None, gt=0)


class SlaPolicy(Strict):
    name: str
    # Empty means any; the first policy whose every non-empty list matches applies.
    priorities: list[Literal["low", "normal", "high", "urgent"]] = Field(default_factory=list)
    channels: list[str] = Field(default_factory=list)
    customer_tiers: list[str] = Field(default_factory=list)
    targets: SlaTargets
    calendar: str | None = None
    warn_at: float = Field(default=0.75, gt=0, lt=1, description="share of the target")


def _slack_only() -> list[AlertChannel]:
    return ["slack"]


class Stage(Strict):
    """One rung of a ladder: when it fires, who is told how, and whether it escalates."""

    name: str
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
    name: str
    role: str = Field(description="team_lead, manager, director, escalation_manager, ...")
    email: str | None = None
    phone: str | None = None
    slack: str | None = Field(default=None, description="a Slack user or channel id")


class Rules(Strict):
    reopen_limit: int = Field(default=3, ge=1, description="escalate on the reopen after this")
    reopen_team: str = "Customer Satisfaction"
    transfer_limit: int = Field(default=3, ge=1, description="ping-pong beyond this many")
    max_escalation_age_days: int = Field(default=30, ge=1)
    csat_review_below: int = Field(default=3, ge=1, le=5, description="ratings below open a review")
    acknowledge_minutes: int = Field(default=30, gt=0, description="accept or bounce a tier up")


class CustomerUpdates(Strict):
    cadence_minutes: int = Field(default=240, gt=0)
    business_hours_only: bool = True
    calendar: str | None = None
    min_gap_minutes: int = Field(default=15, ge=0, description="never two updates closer")
    # template key -> language -> text with {placeholders}
    templates: dict[str, dict[str, str]] = Field(default_factory=dict)


class SlackSettings(Strict):
    channel: str | None = None
    bot_token: str | None = None
    signing_secret: str | None = None
    api_base: str = "https://slack.com/api/"


class Notifiers(Strict):
    slack: SlackSettings = Field(default_factory=SlackSettings)
    email_from: str = "handoff@localhost"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from: str | None = None
    twilio_api_base: str = "https://api.twilio.com"


class CannedAnswer(Strict):
    keywords: list[str]
    answer: dict[str, str] = Field(description="language -> text")


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
    compensation_limits: dict[str, float] = Field(
        default_factory=lambda: {"agent": 50.0, "manager": 500.0, "admin": 5000.0}
    )
    customer_updates: CustomerUpdates = Field(default_factory=CustomerUpdates)
    notifiers: Notifiers = Field(default_factory=Notifiers)
    bot: Bot = Field(default_factory=Bot)

    @model_validator(mode="after")
    def _references(self) -> Policy:
        calendars = {c.name for c in self.calendars}
        for i, sla in enumerate(self.sla):
            if sla.calendar and sla.calendar not in calendars:
                raise ValueError(f"sla.{i}.calendar: no calendar named {sla.calendar!r}")
        if self.customer_updates.calendar and self.customer_updates.calendar not in calendars:
            raise ValueError(
                f"customer_updates.calendar: no calendar named {self.customer_updates.calendar!r}"
            )
        levels = [t.level for t in self.tiers]
        if len(levels) != len(set(levels)):
            raise ValueError("tiers: each level may appear once")
        return self

    def calendar(self, name: str | None) -> Calendar | None:
        return next((c for c in self.calendars if c.name == name), None) if name else None

    def people_for(self, names_or_roles: list[str]) -> list[Person]:
        wanted = set(names_or_roles)
        return [p for p in self.people if p.name in wanted or p.role in wanted]
