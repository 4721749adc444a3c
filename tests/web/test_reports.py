"""The escalation report as managers and integrations see it: the page, JSON and CSV."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

from sqlmodel import Session
from starlette.testclient import TestClient

from inbox.accounts import do_create_token
from inbox.clock import utcnow
from inbox.models import Agent
from tests.conftest import login
from tests.factories import build_world
from tests.inbox.test_reports import (
    Week,
    at,
    build_week,
    csat,
    make_conversation,
    make_escalation,
)
from web.reports_pages import CSV_COLUMNS

WEEK = "from=2025-03-01&to=2025-03-07"
TRICKY_BRIEF = 'Charged twice, "urgent"\nsecond line, with, commas'


def bearer(session: Session, agent: Agent) -> dict[str, str]:
    token = do_create_token(session=session, agent=agent)
    session.commit()
    return {"authorization": f"Bearer {token}"}


def figure(page: str, name: str) -> str:
    """The big number of one headline card."""
    found = re.search(rf'id="figure-{name}">.*?<p class="value">(.*?)</p>', page, re.S)
    assert found, f"no {name} figure on the page"
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def test_a_manager_reads_the_figures_chart_totals_and_log(
    app_client: TestClient, session: Session
) -> None:
    week = build_week(session)
    login(app_client, "admin@example.com")
    response = app_client.get(f"/reports/escalations?{WEEK}")
    assert response.status_code == 200
    page = response.text
    assert figure(page, "escalation-rate") == "67%"  # 4 of 6
    assert figure(page, "time-to-accept") == "20 min"  # median of 5, 10, 30 and 120 min
    assert figure(page, "breach-rate") == "33%"  # 2 of 6
    assert figure(page, "csat") == "3.0 / 5"
    assert "4 of 6 new conversations escalated" in page
    bars = re.findall(r'<rect class="bar[^"]*"[^>]*data-date="([\d-]+)" data-count="(\d+)"', page)
    assert bars == [
        ("2025-03-01", "2"),
        ("2025-03-02", "2"),
        ("2025-03-03", "1"),
        ("2025-03-04", "0"),
        ("2025-03-05", "1"),
        ("2025-03-06", "0"),
        ("2025-03-07", "0"),
    ]
    assert 'id="totals-team"' in page and "Management" in page
    assert page.count('<tr id="escalation-') == 6
    assert f'href="/conversations/{week.ids["c2"]}"' in page
    assert 'href="/reports/escalations?from=2025-03-01&amp;to=2025-03-07&amp;format=csv"' in page


def test_the_page_escapes_what_people_wrote(app_client: TestClient, session: Session) -> None:
    w = build_world(session)
    now = utcnow()
    c = make_conversation(session, w.webchat, w.support, now - timedelta(hours=2))
    make_escalation(
        session,
        c,
        now - timedelta(hours=1),
        w.support,
        w.billing,
        reason="<b>loud</b>",
        brief={"problem": "<script>alert(1)</script>"},
    )
    session.commit()
    login(app_client, "maria@example.com")
    page = app_client.get("/reports/escalations").text  # the last 30 days by default
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    assert "&lt;b&gt;loud&lt;/b&gt;" in page
    today = now.date()
    assert f'name="to" value="{today.isoformat()}"' in page
    assert f'name="from" value="{(today - timedelta(days=29)).isoformat()}"' in page


def test_agents_get_a_page_saying_reports_are_for_managers(
    app_client: TestClient, session: Session
) -> None:
    build_world(session)
    login(app_client, "dana@example.com")
    response = app_client.get("/reports/escalations")
    assert response.status_code == 403 and "Reports are for managers" in response.text
    assert 'href="/reports/escalations"' not in app_client.get("/inbox").text
    assert app_client.get("/reports/escalations?format=csv").status_code == 403


def test_managers_find_the_report_in_the_top_bar(app_client: TestClient, session: Session) -> None:
    build_world(session)
    login(app_client, "maria@example.com")
    assert 'href="/reports/escalations"' in app_client.get("/inbox").text


def test_signed_out_visitors_go_to_the_login_page(app_client: TestClient) -> None:
    response = app_client.get("/reports/escalations", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_a_bad_range_on_the_page_says_what_is_wrong(
    app_client: TestClient, session: Session
) -> None:
    build_world(session)
    login(app_client, "maria@example.com")
    response = app_client.get("/reports/escalations?from=2025-03-09&to=2025-03-01")
    assert response.status_code == 422 and "from must be on or before to" in response.text
    assert 'value="2025-03-09"' in response.text, "what was typed stays in the form"


def test_api_json_has_figures_days_totals_and_escalations(
    app_client: TestClient, session: Session
) -> None:
    week = build_week(session)
    response = app_client.get(
        f"/api/v1/reports/escalations?{WEEK}", headers=bearer(session, week.world.admin)
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["from"], body["to"]) == ("2025-03-01", "2025-03-07")
    f = body["figures"]
    assert (f["conversations"], f["escalated_conversations"], f["escalations"]) == (6, 4, 6)
    assert f["median_seconds_to_accept"] == 1200 and f["breached_conversations"] == 2
    assert (f["csat_after_escalation"], f["csat_overall"]) == (3.0, 4.0)
    assert [d["count"] for d in body["per_day"]] == [2, 2, 1, 0, 1, 0, 0]
    assert body["totals"]["tier"] == [
        {"key": 2, "count": 4, "accepted": 2, "median_seconds_to_accept": 1200.0},
        {"key": 3, "count": 2, "accepted": 2, "median_seconds_to_accept": 3750.0},
    ]
    e3 = next(e for e in body["escalations"] if e["id"] == week.ids["e3"])
    assert e3["created_at"] == "2025-03-02T09:30:00Z" and e3["outcome"] == "accepted"
    in_tier = e3["seconds_in_tier"]
    assert sorted(in_tier) == ["1", "2", "3"] and (in_tier["1"], in_tier["2"]) == (3600, 1800)
    assert e3["sla_stages"] == ["resolution.1.breach"] and e3["to_team"] == "Management"


def test_api_agents_get_403_and_other_teams_stay_hidden(
    app_client: TestClient, session: Session
) -> None:
    week = build_week(session)
    dana = app_client.get(
        f"/api/v1/reports/escalations?{WEEK}", headers=bearer(session, week.world.dana)
    )
    assert dana.status_code == 403 and dana.json()["code"] == "forbidden"
    maria = app_client.get(
        f"/api/v1/reports/escalations?{WEEK}", headers=bearer(session, week.world.manager)
    ).json()
    assert {e["id"] for e in maria["escalations"]} == {week.ids["e4"], week.ids["e6"]}
    assert app_client.get("/api/v1/reports/escalations").status_code == 401


def test_api_names_the_bad_parameter(app_client: TestClient, session: Session) -> None:
    w = build_world(session)
    headers = bearer(session, w.admin)
    for query, field in [
        ("from=2025-13-01", "from"),
        ("from=yesterday", "from"),
        ("to=2025-3-1", "to"),
        ("from=2025-03-02&to=2025-03-01", "from"),
        ("from=2020-01-01&to=2025-01-01", "to"),
        ("format=xml", "format"),
    ]:
        response = app_client.get(f"/api/v1/reports/escalations?{query}", headers=headers)
        assert response.status_code == 422, query
        assert response.json()["detail"] == {"field": field}, query


def csv_of(app_client: TestClient, url: str, headers: dict[str, str]) -> list[dict[str, str]]:
    response = app_client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment;")
    reader = csv.DictReader(io.StringIO(response.text, newline=""))
    assert reader.fieldnames == CSV_COLUMNS
    return list(reader)


def tricky_week(session: Session) -> Week:
    week = build_week(session)
    w = week.world
    c = make_conversation(session, w.webchat, w.support, at(6, 8))
    make_escalation(
        session, c, at(6, 9), w.support, w.billing, reason="=HYPERLINK(1)", agent=w.dana,
        brief={"problem": TRICKY_BRIEF, "tried": "-1"},
    )  # fmt: skip
    csat(session, c, 5, at(6, 10), escalated=True)
    session.commit()
    return week


def test_csv_has_one_row_per_escalation_and_the_brief_round_trips(
    app_client: TestClient, session: Session
) -> None:
    week = tricky_week(session)
    rows = csv_of(
        app_client,
        f"/api/v1/reports/escalations?{WEEK}&format=csv",
        bearer(session, week.world.admin),
    )
    assert len(rows) == 7
    tricky = rows[-1]
    assert tricky["brief"] == f"problem: {TRICKY_BRIEF}\ntried: -1"
    # A reason starting with = would be a formula to a spreadsheet: it is disarmed.
    assert tricky["reason"] == "'=HYPERLINK(1)"
    assert tricky["csat_after"] == "5" and tricky["outcome"] == "open"
    e3 = next(r for r in rows if r["id"] == str(week.ids["e3"]))
    assert (e3["seconds_to_accept"], e3["seconds_in_l1"], e3["seconds_in_l2"]) == (
        "7200",
        "3600",
        "1800",
    )
    assert e3["seconds_in_l0"] == "" and e3["sla_stages"] == "resolution.1.breach"
    assert (e3["transfers"], e3["reopens"]) == ("2", "1")


def test_the_page_download_link_gives_the_same_csv(
    app_client: TestClient, session: Session
) -> None:
    week = tricky_week(session)
    login(app_client, "admin@example.com")
    page_rows = csv_of(app_client, f"/reports/escalations?{WEEK}&format=csv", {})
    api_rows = csv_of(
        app_client,
        f"/api/v1/reports/escalations?{WEEK}&format=csv",
        bearer(session, week.world.admin),
    )

    # Time in tier of escalations still under way runs to the second each is read.
    def settled(rows: list[dict[str, str]]) -> list[dict[str, str]]:
        return [{k: v for k, v in r.items() if not k.startswith("seconds_in_")} for r in rows]

    assert len(page_rows) == 7 and settled(page_rows) == settled(api_rows)
