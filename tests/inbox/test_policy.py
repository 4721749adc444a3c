"""The escalation policy document: the built-in default, validation that names the bad field,
YAML in and out, saving with history, and the `handoff import-policy / export-policy` commands
(docs/concepts/escalation-policy.md)."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import BaseModel
from sqlmodel import Session, col, select

from inbox.accounts import do_create_team
from inbox.cli import main
from inbox.errors import InvalidInput
from inbox.models import AuditEntry, PolicyDocument, Team
from inbox.policy import TEMPLATE_PLACEHOLDERS, Policy
from inbox.policy_defaults import DEFAULT_POLICY
from inbox.policy_store import (
    as_data,
    current_policy,
    default_policy,
    do_save_policy,
    parse_policy,
    policy_from_yaml,
    policy_to_yaml,
)
from tests.factories import build_world

DEMO_TEAMS = [
    ("Support L1", 1),
    ("Billing", 2),
    ("Technical", 2),
    ("Customer Satisfaction", 2),
    ("Management", 3),
]


def make_teams(session: Session, *, leave_out: str | None = None) -> None:
    for name, tier in DEMO_TEAMS:
        if name != leave_out:
            do_create_team(session=session, name=name, tier=tier, skills=[])
    session.commit()


def default_data() -> dict[str, Any]:
    return copy.deepcopy(DEFAULT_POLICY)


def error_of(data: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse_policy(data)
    return caught.value


def field_of(exc: InvalidInput) -> str:
    assert isinstance(exc.detail, dict)
    return str(exc.detail["field"])


# The built-in default


def test_a_fresh_install_without_teams_uses_the_built_in_default(session: Session) -> None:
    assert session.exec(select(Team)).first() is None
    policy = current_policy(session)
    assert policy == default_policy()
    assert [t.level for t in policy.tiers] == [0, 1, 2, 3]
    assert policy.tiers[2].teams == ["Billing", "Technical", "Customer Satisfaction"]
    assert [row.problem for row in policy.matrix] == [
        "billing",
        "refund",
        "technical",
        "outage",
        "complaint",
    ]
    business = policy.calendar("Business hours")
    assert business is not None and business.timezone == "Europe/Warsaw"
    assert business.holidays_country == "PL" and set(business.hours) == {
        "mon",
        "tue",
        "wed",
        "thu",
        "fri",
    }
    assert [s.name for s in policy.ladder] == [
        "SLA warning",
        "SLA breach",
        "Open 24 hours",
        "Open 48 hours",
    ]
    assert {p.role for p in policy.people} >= {"team_lead", "manager", "director"}
    assert policy.rules.reopen_team == "Customer Satisfaction"


def test_default_targets_follow_priority_and_customer_tier() -> None:
    policy = default_policy()
    urgent = policy.sla_for("urgent", "webchat", "standard")
    assert urgent is not None and urgent.calendar is None
    assert (urgent.targets.first_response, urgent.targets.resolution) == (30, 8 * 60)
    high = policy.sla_for("high", "email", None)
    assert high is not None and high.targets.first_response == 60
    vip = policy.sla_for("normal", "api", "vip")
    everyone = policy.sla_for("normal", "api", "standard")
    assert vip is not None and everyone is not None
    assert vip.targets.first_response is not None and everyone.targets.first_response == 240
    assert vip.targets.first_response < everyone.targets.first_response
    assert everyone.warn_at == 0.75


def test_default_customer_messages_exist_in_six_languages_and_fill_in() -> None:
    updates = default_policy().customer_updates
    values = {name: f"<{name}>" for name in TEMPLATE_PLACEHOLDERS}
    for key in ("escalated", "accepted", "periodic", "resolved", "csat", "letter"):
        assert set(updates.templates[key]) == {"en", "pl", "bg", "ru", "ar", "nb"}, key
        for language, text in updates.templates[key].items():
            filled = text.format(**values)
            assert "{" not in filled, (key, language)
    assert "<team>" in updates.templates["escalated"]["pl"].format(**values)
    # pt_BR falls back to English; nb_NO to Norwegian.
    assert updates.template("escalated", "pt_BR") == updates.templates["escalated"]["en"]
    assert updates.template("escalated", "nb-NO") == updates.templates["escalated"]["nb"]


def test_default_bot_answers_in_english_and_polish() -> None:
    bot = default_policy().bot
    assert len(bot.answers) == 3
    assert all(set(answer.answer) == {"en", "pl"} for answer in bot.answers)
    assert bot.handoff_team == "Support L1"


# Validation names the field at fault


def _tz(d: dict[str, Any]) -> None:
    d["calendars"][0]["timezone"] = "Mars/Olympus_Mons"


def _backwards_period(d: dict[str, Any]) -> None:
    d["calendars"][0]["hours"]["tue"] = [["17:00", "09:00"]]


def _unknown_calendar(d: dict[str, Any]) -> None:
    d["sla"][2]["calendar"] = "Night shift"


def _negative_target(d: dict[str, Any]) -> None:
    d["sla"][1]["targets"]["first_response"] = -5


def _bad_placeholder(d: dict[str, Any]) -> None:
    d["customer_updates"]["templates"]["escalated"]["pl"] = "Cześć {klient}"


def _unknown_recipient(d: dict[str, Any]) -> None:
    d["ladder"][2]["notify"] = ["manager", "ceo"]


def _team_outside_its_tier(d: dict[str, Any]) -> None:
    d["matrix"][0]["tiers"][2] = "Support L1"


def _misspelt_field(d: dict[str, Any]) -> None:
    d["rules"]["reopen_limt"] = 4


def _stage_without_trigger(d: dict[str, Any]) -> None:
    d["ladder"][0]["at"] = None


def _unknown_country(d: dict[str, Any]) -> None:
    d["calendars"][0]["holidays_country"] = "XX"


def _same_stage_twice(d: dict[str, Any]) -> None:
    d["ladder"][3]["name"] = "Open 24 hours"


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (_tz, "calendars.0.timezone", "unknown time zone 'Mars/Olympus_Mons'"),
        (_backwards_period, "calendars.0.hours.tue.0", "17:00-09:00"),
        (_unknown_calendar, "sla.2.calendar", "no calendar named 'Night shift'"),
        (_negative_target, "sla.1.targets.first_response", "Input should be greater than 0"),
        (_bad_placeholder, "customer_updates.templates.escalated.pl", "{klient}"),
        (_unknown_recipient, "ladder.2.notify.1", "'ceo'"),
        (_team_outside_its_tier, "matrix.0.tiers.2", "not a team of tier L2"),
        (_misspelt_field, "rules.reopen_limt", "Extra inputs are not permitted"),
        (_stage_without_trigger, "ladder.0", "exactly one of `at` or `after_hours`"),
        (_unknown_country, "calendars.0.holidays_country", "'XX'"),
        (_same_stage_twice, "ladder.3.name", "appears twice"),
    ],
)
def test_a_bad_field_is_named_in_the_error(change: Any, field: str, words: str) -> None:
    data = default_data()
    change(data)
    exc = error_of(data)
    assert field_of(exc) == field
    assert exc.message.startswith(f"{field}: ")
    assert words in exc.message


def test_the_negative_target_message_reads_as_the_docs_show_it() -> None:
    data = default_data()
    _negative_target(data)
    assert error_of(data).message == (
        "sla.1.targets.first_response: Input should be greater than 0"
    )


def test_every_problem_is_listed_not_only_the_first() -> None:
    data = default_data()
    _tz(data)
    _negative_target(data)
    exc = error_of(data)
    assert isinstance(exc.detail, dict)
    fields = [p["field"] for p in exc.detail["errors"]]
    assert fields == ["calendars.0.timezone", "sla.1.targets.first_response"]
    assert exc.message.endswith("(and 1 more)")


def test_a_document_that_is_not_a_mapping_is_refused() -> None:
    assert field_of(error_of(["tiers"])) == "policy"


# YAML


def test_yaml_round_trip_gives_the_same_policy() -> None:
    policy = default_policy()
    text = policy_to_yaml(policy)
    assert text.startswith("# Handoff escalation policy")
    assert policy_from_yaml(text) == policy
    # Readable: matrix levels as numbers, the letter as a block, Polish as Polish.
    assert "    2: Billing\n" in text
    assert "letter:\n      en: |-\n        Dear {contact}," in text
    assert "Dzień dobry" in text


def test_a_yaml_syntax_error_names_its_line() -> None:
    text = "version: 1\ntiers:\n  - level: 1\n    name: [First line\nrules: {}\n"
    with pytest.raises(InvalidInput) as caught:
        policy_from_yaml(text)
    assert "line 5" in caught.value.message
    assert caught.value.detail == {"field": "yaml", "line": 5, "column": 6}


def test_yaml_that_is_valid_but_wrong_names_the_field() -> None:
    text = "sla:\n  - name: Fast\n    targets: {first_response: 0}\n"
    with pytest.raises(InvalidInput) as caught:
        policy_from_yaml(text)
    assert field_of(caught.value) == "sla.0.targets.first_response"


def test_hand_written_yaml_times_dates_and_norway_mean_what_they_say() -> None:
    # YAML 1.1 reads 17:00 as 1020, 2025-12-24 as a date and NO as false.
    text = (
        "calendars:\n"
        "  - name: Oslo office\n"
        "    timezone: Europe/Oslo\n"
        "    hours: {mon: [[08:00, 12:00], [13:00, 16:30]]}\n"
        "    holidays_country: NO\n"
        "    holidays: [2025-12-24]\n"
    )
    [oslo] = policy_from_yaml(text).calendars
    assert oslo.hours["mon"] == [("08:00", "12:00"), ("13:00", "16:30")]
    assert oslo.holidays_country == "NO" and oslo.holidays == ["2025-12-24"]


# Saving


def test_saving_puts_a_policy_in_force_and_keeps_the_history(session: Session) -> None:
    w = build_world(session)  # Support L1 and Billing; the policy names three more.
    for name, tier in DEMO_TEAMS[2:]:
        do_create_team(session=session, name=name, tier=tier, skills=[])
    session.commit()
    first = default_policy()
    first.rules.reopen_limit = 5
    do_save_policy(session=session, policy=first, actor=w.admin)
    assert current_policy(session).rules.reopen_limit == 5
    # Parsed once per saved document: every incoming message asks for it.
    assert current_policy(session) is current_policy(session)

    second = default_policy()
    second.sla[0].targets.first_response = 10
    doc = do_save_policy(session=session, policy=second, actor=w.admin)
    now_in_force = current_policy(session)
    assert now_in_force.sla[0].targets.first_response == 10
    assert now_in_force.rules.reopen_limit == 3
    assert len(session.exec(select(PolicyDocument)).all()) == 3, "build_world saved the first"
    audit = session.exec(
        select(AuditEntry).where(AuditEntry.action == "policy.saved").order_by(col(AuditEntry.id))
    ).all()
    assert [a.actor_agent_id for a in audit] == [w.admin.id, w.admin.id]
    assert audit[-1].details["policy_document_id"] == doc.id


def test_saving_refuses_teams_that_do_not_exist_and_changes_nothing(session: Session) -> None:
    make_teams(session, leave_out="Billing")
    with pytest.raises(InvalidInput) as caught:
        do_save_policy(session=session, policy=default_policy(), actor=None)
    assert isinstance(caught.value.detail, dict)
    fields = [p["field"] for p in caught.value.detail["errors"]]
    assert fields[0] == "tiers.2.teams.0"
    assert {"matrix.0.tiers.2", "matrix.1.tiers.2", "routing.Billing"} <= set(fields)
    assert "no team named 'Billing'" in caught.value.message
    session.rollback()
    assert session.exec(select(PolicyDocument)).first() is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["rules"].update(reopen_team="Happiness"), "rules.reopen_team"),
        (lambda d: d["bot"].update(handoff_team="Robots"), "bot.handoff_team"),
        (lambda d: d["routing"].update({"Night shift": "direct"}), "routing.Night shift"),
    ],
)
def test_each_place_a_team_is_named_is_checked_on_save(
    session: Session, change: Any, field: str
) -> None:
    make_teams(session)
    data = default_data()
    change(data)
    with pytest.raises(InvalidInput) as caught:
        do_save_policy(session=session, policy=parse_policy(data), actor=None)
    assert field_of(caught.value) == field


def test_a_changed_object_is_checked_again_before_it_is_saved(session: Session) -> None:
    make_teams(session)
    policy = default_policy()
    policy.sla[0].calendar = "Nowhere"  # pydantic does not re-check on assignment
    with pytest.raises(InvalidInput) as caught:
        do_save_policy(session=session, policy=policy, actor=None)
    assert field_of(caught.value) == "sla.0.calendar"


def test_readers_who_are_not_admins_never_see_secrets() -> None:
    policy = default_policy()
    policy.notifiers.slack.bot_token = "xoxb-secret"
    policy.notifiers.twilio_auth_token = "twilio-secret"
    shown = as_data(policy, secrets=False)
    assert shown["notifiers"]["slack"]["bot_token"] is None
    assert shown["notifiers"]["twilio_auth_token"] is None
    assert "-secret" not in policy_to_yaml(policy, secrets=False)
    assert "xoxb-secret" in policy_to_yaml(policy)


# The command line


@pytest.fixture
def env_database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATABASE_URL", database_url)
    return database_url


def test_export_then_import_round_trips_through_the_command_line(
    env_database: str,
    session: Session,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make_teams(session)
    assert main(["export-policy"]) == 0
    exported = capsys.readouterr().out
    assert policy_from_yaml(exported) == default_policy()

    edited = exported.replace("acknowledge_minutes: 30", "acknowledge_minutes: 20")
    path = tmp_path / "policy.yaml"
    path.write_text(edited, encoding="utf-8")
    assert main(["import-policy", str(path)]) == 0
    assert "Policy saved" in capsys.readouterr().err

    assert main(["export-policy"]) == 0
    again = capsys.readouterr().out
    assert again == edited
    session.expire_all()
    assert current_policy(session).rules.acknowledge_minutes == 20


def test_a_bad_file_exits_with_2_naming_the_field_and_changes_nothing(
    env_database: str,
    session: Session,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make_teams(session)
    bad = policy_to_yaml(default_policy()).replace("first_response: 30\n", "first_response: -1\n")
    path = tmp_path / "bad.yaml"
    path.write_text(bad, encoding="utf-8")
    assert main(["import-policy", str(path)]) == 2
    err = capsys.readouterr().err
    assert "sla.1.targets.first_response: Input should be greater than 0" in err
    assert "nothing was changed" in err

    path.write_text("tiers:\n  - level: [1\n", encoding="utf-8")
    assert main(["import-policy", str(path)]) == 2
    assert "line 3" in capsys.readouterr().err

    assert main(["import-policy", str(tmp_path / "missing.yaml")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert session.exec(select(PolicyDocument)).first() is None


# The documentation keeps up with the schema

DOCS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "concepts" / "escalation-policy.md"


def schema_fields(model: type[BaseModel]) -> set[str]:
    """Every field name in the document, nested sections included."""
    found: set[str] = set()
    for name, info in model.model_fields.items():
        found.add(name)
        for kind in (info.annotation, *get_args(info.annotation)):
            for inner in (kind, *get_args(kind)):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    found |= schema_fields(inner)
    return found


def test_every_field_of_the_policy_is_documented() -> None:
    # Inline `code` outside the fenced examples: the tables that describe each field.
    text = re.sub(r"```.*?```", "", DOCS_PAGE.read_text(encoding="utf-8"), flags=re.S)
    documented = {word for span in re.findall(r"`([^`]+)`", text) for word in re.split(r"\W", span)}
    fields = schema_fields(Policy)
    assert {"first_response", "signing_secret", "keywords", "holidays_country"} <= fields
    missing = sorted(fields - documented)
    assert not missing, f"docs/concepts/escalation-policy.md does not describe: {missing}"


def test_the_annotated_example_in_the_docs_is_a_valid_policy() -> None:
    text = DOCS_PAGE.read_text(encoding="utf-8")
    example = text.split("## An annotated example", 1)[1].split("```yaml\n", 1)[1]
    policy = policy_from_yaml(example.split("```", 1)[0])
    assert policy.calendars[0].hours["mon"] == [("09:00", "12:00"), ("13:00", "17:00")]
    assert policy.ladder[1].escalate_tiers == 1
