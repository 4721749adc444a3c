"""The interface in our first users' languages (docs/concepts/languages.md): Polish, Bulgarian,
Russian, Arabic and Norwegian, for agents and for customers, with Arabic laid out right to left
and every catalog complete."""

from __future__ import annotations

import html
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from sqlmodel import Session
from starlette.testclient import TestClient

from tests.conftest import csrf_headers, login
from tests.factories import World, build_world, customer_writes
from web import i18n

ROOT = Path(__file__).resolve().parents[2]
LANGUAGES = ["pl", "bg", "ru", "ar", "nb"]


def catalog_path(language: str, suffix: str) -> Path:
    return i18n.LOCALES_DIR / language / "LC_MESSAGES" / f"messages.{suffix}"


@pytest.fixture(autouse=True, scope="module")
def compiled_catalogs() -> Iterator[None]:
    """What `make compile-messages` does, so that `pytest` alone works after a fresh clone: the
    .mo files are git-ignored. Written atomically, since two test runs may share the tree."""
    for language in LANGUAGES:
        po, mo = catalog_path(language, "po"), catalog_path(language, "mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as source:
            catalog = read_po(source, locale=language, abort_invalid=True)
        partial = mo.with_name(f".messages.{os.getpid()}.mo")
        with partial.open("wb") as target:
            write_mo(target, catalog)
        partial.replace(mo)
    i18n.translations.cache_clear()  # a catalog looked up before it was compiled
    yield


def choose_language(client: TestClient, locale: str) -> None:
    response = client.post("/me/language", data={"locale": locale}, headers=csrf_headers(client))
    assert response.status_code == 204, response.text
    assert response.headers["hx-refresh"] == "true"


def token_of(world: World) -> str:
    assert world.webchat.widget_token is not None
    return world.webchat.widget_token


def test_an_agent_who_picks_polish_sees_the_inbox_in_polish(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    customer_writes(session, w.webchat, "Where is my parcel?", who="ann", team=w.support)
    login(app_client, "dana@example.com")
    assert "Sign out" in app_client.get("/inbox").text

    choose_language(app_client, "pl")
    page = app_client.get("/inbox").text
    assert '<html lang="pl" dir="ltr">' in page
    for polish in ("Rozmowy", "Wyloguj się", "Szukaj w wiadomościach i kontaktach", "Moje zespoły"):
        assert polish in page
    assert "Sign out" not in page and "My teams" not in page
    # The live indicators app.js writes come translated too.
    assert 'data-s-typing-reply="pisze odpowiedź…"' in page
    assert 'data-s-viewing-one="przegląda"' in page
    # The status tag on the row is translated by value.
    assert ">otwarta<" in page

    # The choice is kept on the agent: it survives signing out and in again.
    app_client.post("/logout", headers=csrf_headers(app_client))
    login(app_client, "dana@example.com")
    assert '<html lang="pl" dir="ltr">' in app_client.get("/inbox").text


def test_an_agent_who_picks_arabic_gets_a_right_to_left_inbox(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    received = customer_writes(session, w.webchat, "Hello", who="ann", team=w.support)
    login(app_client, "dana@example.com")
    choose_language(app_client, "ar")
    page = app_client.get(f"/conversations/{received.conversation.id}").text
    assert '<html lang="ar" dir="rtl">' in page
    assert "المحادثات" in page and "تسجيل الخروج" in page  # Conversations, Sign out
    assert "ملاحظة داخلية" in page  # Internal note


def test_an_unknown_language_is_refused(app_client: TestClient, session: Session) -> None:
    build_world(session)
    login(app_client, "dana@example.com")
    for locale in ("xx", "", "../pl", "PL"):
        response = app_client.post(
            "/me/language", data={"locale": locale}, headers=csrf_headers(app_client)
        )
        assert response.status_code == 422, locale
    assert '<html lang="en" dir="ltr">' in app_client.get("/inbox").text


def test_the_sign_in_page_speaks_the_browsers_language(
    app_client: TestClient, session: Session
) -> None:
    build_world(session)
    polish = {"accept-language": "pl-PL,pl;q=0.9,en;q=0.8"}
    page = app_client.get("/login", headers=polish).text
    assert '<html lang="pl" dir="ltr">' in page and "Zaloguj się" in page
    wrong = app_client.post(
        "/login", data={"email": "dana@example.com", "password": "nope"}, headers=polish
    )
    assert wrong.status_code == 401
    assert "Nieprawidłowy e-mail lub hasło" in wrong.text


@pytest.mark.parametrize(
    ("accept_language", "lang", "direction", "words"),
    [
        ("bg", "bg", "ltr", ["Пишете ни", "За какво ви е нужна помощ?", "Започни чат"]),
        ("nb-NO", "nb", "ltr", ["Chat med oss", "Hva trenger du hjelp med?", "Vi svarer her"]),
        ("pl-PL,pl;q=0.9", "pl", "ltr", ["Porozmawiaj z nami", "Rozpocznij czat"]),
        ("ar", "ar", "rtl", ["تحدّث معنا", "بدء الدردشة"]),
        ("fr-CA,ru;q=0.5", "ru", "ltr", ["Напишите нам", "Начать чат"]),
    ],
)
def test_the_chat_widget_speaks_the_customers_language(
    app_client: TestClient,
    session: Session,
    accept_language: str,
    lang: str,
    direction: str,
    words: list[str],
) -> None:
    w = build_world(session)
    frame = app_client.get(
        f"/widget/{token_of(w)}/frame", headers={"accept-language": accept_language}
    )
    assert frame.status_code == 200
    assert f'<html lang="{lang}" dir="{direction}">' in frame.text
    for word in words:
        assert word in frame.text
    assert "Chat with us" not in frame.text


def test_the_contacts_stored_language_wins_over_the_browsers(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    started = app_client.post(
        f"/widget/{token_of(w)}/conversations",
        json={"name": "Ola", "email": "ola@example.pl", "content": "Dzień dobry"},
        headers={"accept-language": "pl-PL,pl;q=0.9"},
    )
    assert started.status_code == 201, started.text
    assert started.json()["messages"][0]["author"] == "Ty"
    # Later the same customer's browser asks for Russian: the contact's Polish still wins.
    visitor = {"x-visitor-token": started.json()["visitor_token"], "accept-language": "ru"}
    listed = app_client.get(f"/widget/{token_of(w)}/messages", headers=visitor)
    assert listed.json()["messages"][0]["author"] == "Ty"
    empty = app_client.post(
        f"/widget/{token_of(w)}/messages", json={"content": " "}, headers=visitor
    )
    assert empty.status_code == 422
    assert "Napisz wiadomość." in empty.text


@pytest.mark.parametrize(
    "text",
    [
        "Здравствуйте! Заказ №4521 не пришёл, а деньги списали дважды. <b>Срочно</b> & спасибо",
        "مرحبًا، لم يصل طلبي رقم ٤٥٢١ وتم خصم المبلغ مرتين. <script>x</script> & شكرًا",
    ],
    ids=["russian", "arabic"],
)
def test_customer_messages_in_any_script_reach_the_agent_intact(
    app_client: TestClient, session: Session, text: str
) -> None:
    w = build_world(session)
    received = customer_writes(session, w.webchat, text, who="ivan", team=w.support)
    login(app_client, "dana@example.com")
    choose_language(app_client, "pl")
    page = app_client.get(f"/conversations/{received.conversation.id}").text
    assert html.escape(text, quote=False) in page, "shown exactly as written, and escaped"
    assert "<script>x" not in page and "<b>Срочно" not in page
    # Each bubble finds its own direction, whatever the interface's.
    assert '<div class="bubble" dir="auto">' in page


def fresh_template(target: Path) -> Catalog:
    """What `make messages` extracts today, written to and read back from a file."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)  # type: ignore[no-untyped-call]
    template = Catalog(project="Handoff")
    for filename, lineno, message, comments, context in extract_from_dir(
        ROOT,
        method_map,
        options_map,
        directory_filter=lambda path: (
            os.path.basename(path) not in {"node_modules", "bench"}
            and not os.path.basename(path).startswith((".", "_"))
        ),
    ):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    with target.open("wb") as out:
        write_po(out, template)
    with target.open("rb") as back:
        return read_po(back)


def forms(message: Message) -> list[str]:
    """The translation, or each of its plural forms."""
    strings = message.string if isinstance(message.string, (tuple, list)) else [message.string]
    return [s or "" for s in strings]


def translated(message: Message | None) -> bool:
    return message is not None and not message.fuzzy and all(forms(message))


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_string_is_translated(language: str, tmp_path: Path) -> None:
    template = fresh_template(tmp_path / "messages.pot")
    assert len(template) > 200, "extraction found the interface's strings"
    with catalog_path(language, "po").open("rb") as source:
        catalog = read_po(source, locale=language, abort_invalid=True)
    assert not catalog.fuzzy, "a fuzzy catalog is never compiled"
    untranslated = []
    for wanted in template:
        if not wanted.id:
            continue
        if not translated(catalog.get(wanted.id, wanted.context)):
            untranslated.append(wanted.id if isinstance(wanted.id, str) else wanted.id[0])
    assert not untranslated, (
        f"run `make messages` and translate these in locales/{language}: {untranslated}"
    )
    broken = [(m.id, [str(e) for e in errors]) for m, errors in catalog.check()]
    assert not broken, f"placeholders must match the English: {broken}"
    # Jinja formats every translated string with %, placeholders or not: a stray % breaks a page.
    stray = [
        m.id
        for m in catalog
        if m.id and "python-format" not in m.flags and "%" in "".join(forms(m))
    ]
    assert not stray, f"write %% for a percent sign in these: {stray}"


def test_the_browsers_language_is_read_as_browsers_send_it() -> None:
    from web.i18n import best_match

    assert best_match("PL") == "pl"
    assert best_match("pl-pl,en;q=0.5") == "pl"
    assert best_match("ru;q=0, bg;q=0.5") == "bg", "q=0 means not this one"
    assert best_match("no") == "nb" and best_match("nn-NO") == "nb"
    assert best_match("xx", stored="ar") == "ar"
    assert best_match("fr") == "en"
