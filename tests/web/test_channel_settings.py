"""Connecting provider channels from Settings (docs/channels/README.md): a form per channel
whose config has exactly CONTRACT.md's keys, secrets kept and never shown, the URL to give
the provider, and errors beside the field."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from inbox.accounts import do_create_inbox
from inbox.models import Inbox
from inbox.settings import Settings
from main import create_app
from tests.conftest import csrf_headers, login
from tests.factories import World, build_world
from web.channel_forms import endpoints

# CONTRACT.md, "Inbox config, per channel".
CONTRACT_KEYS = {
    "email": {"address", "webhook_secret", "smtp", "imap"},
    "slack": {"bot_token", "signing_secret", "channel_id", "api_base"},
    "telegram": {"bot_token", "secret_token", "api_base"},
    "whatsapp": {"access_token", "app_secret", "verify_token", "phone_number_id", "api_base"},
    "messenger": {"page_access_token", "app_secret", "verify_token", "page_id", "api_base"},
    "x": {"consumer_secret", "access_token", "account_id", "api_base"},
    "twilio": {"account_sid", "auth_token", "phone_number", "api_base", "menu"},
}
SMTP_KEYS = {"host", "port", "username", "password", "starttls"}
IMAP_KEYS = {"host", "port", "username", "password", "ssl", "folder"}
API_BASES = {
    "slack": "https://slack.com/api/",
    "telegram": "https://api.telegram.org",
    "whatsapp": "https://graph.facebook.com/v21.0",
    "messenger": "https://graph.facebook.com/v21.0",
    "x": "https://api.twitter.com",
    "twilio": "https://api.twilio.com",
}
# What an admin pastes for each channel; every secret is unmistakable in a page.
FORMS: dict[str, dict[str, Any]] = {
    "email": {
        "address": "help@acme.example",
        "webhook_secret": "SECRET-email-webhook",
        "smtp.host": "smtp.acme.example",
        "smtp.port": "465",
        "smtp.username": "help@acme.example",
        "smtp.password": "SECRET-smtp-password",
        "smtp.starttls": "on",
        "imap.host": "",
        "imap.port": "",
        "imap.folder": "INBOX",
        "imap.ssl": "on",
    },
    "slack": {
        "bot_token": "xoxb-SECRET-slack-bot",
        "signing_secret": "SECRET-slack-signing",
        "channel_id": "C0123456789",
        "api_base": "https://slack.com/api/",
    },
    "telegram": {
        "bot_token": "123456:SECRET-telegram-bot",
        "secret_token": "SECRET-telegram-hook",
        "api_base": "https://api.telegram.org",
    },
    "whatsapp": {
        "access_token": "SECRET-wa-access",
        "app_secret": "SECRET-wa-app",
        "verify_token": "SECRET-wa-verify",
        "phone_number_id": "106540352242922",
        "api_base": "https://graph.facebook.com/v21.0",
    },
    "messenger": {
        "page_access_token": "SECRET-fb-page",
        "app_secret": "SECRET-fb-app",
        "verify_token": "SECRET-fb-verify",
        "page_id": "1234567890",
        "api_base": "https://graph.facebook.com/v21.0",
    },
    "x": {
        "consumer_secret": "SECRET-x-consumer",
        "access_token": "SECRET-x-access",
        "account_id": "987654321",
        "api_base": "https://api.twitter.com",
    },
    "twilio": {
        "account_sid": "AC0123456789abcdef0123456789abcdef",
        "auth_token": "SECRET-twilio-auth",
        "phone_number": "+14155550100",
        "api_base": "https://api.twilio.com",
        "menu.digit": ["1", "2", ""],
        "menu.label": ["Billing", "Technical support", ""],
        "menu.team_id": ["", "", ""],
    },
}
SECRETS = re.compile(r"SECRET-[\w-]+")


@pytest.fixture
def world(session: Session) -> World:
    return build_world(session)


@pytest.fixture
def admin(app_client: TestClient, world: World) -> TestClient:
    login(app_client, "admin@example.com")
    return app_client


def fresh(session: Session) -> Session:
    session.rollback()
    session.expire_all()
    return session


def inbox_named(session: Session, name: str) -> Inbox | None:
    return fresh(session).exec(select(Inbox).where(Inbox.name == name)).first()


def create(client: TestClient, channel: str, **changes: Any) -> Any:
    data = {"channel": channel, "name": f"Acme {channel}", **FORMS[channel], **changes}
    return client.post("/settings/inboxes", data=data, headers=csrf_headers(client))


def provider_inbox(session: Session, channel: str, config: dict[str, Any]) -> Inbox:
    inbox = do_create_inbox(session=session, name=f"Acme {channel}", channel=channel, config=config)
    session.commit()
    return inbox


def no_secret_in(html: str) -> None:
    assert not SECRETS.findall(html), SECRETS.findall(html)


def invalid_names(html: str) -> list[str]:
    """The form fields marked invalid, in page order."""
    return re.findall(r'name="([\w.]+)"[^>]*aria-invalid="true"', html, flags=re.S)


# Creating


def test_the_add_form_offers_a_tile_and_a_form_for_every_channel(admin: TestClient) -> None:
    page = admin.get("/settings/inboxes").text
    for channel in ["webchat", "api", *CONTRACT_KEYS]:
        assert f'name="pick-channel" value="{channel}"' in page, channel
        assert f'<input type="hidden" name="channel" value="{channel}">' in page, channel
    for label in ["Signing secret", "Slack app → Basic Information → Signing Secret", "Voice menu"]:
        assert label in page
    # The provider's public API is prefilled, tucked under Advanced.
    for base in API_BASES.values():
        assert f'value="{base}"' in page
    # A link can open the form on one channel; without script the radio shows its form.
    twilio = admin.get("/settings/inboxes?channel=twilio").text
    assert 'value="twilio" checked' in twilio and 'value="webchat" checked' not in twilio


@pytest.mark.parametrize("channel", sorted(CONTRACT_KEYS))
def test_an_admin_creates_each_provider_inbox_with_exactly_the_contract_keys(
    admin: TestClient, session: Session, channel: str
) -> None:
    response = create(admin, channel)
    assert response.status_code == 200, response.text
    inbox = inbox_named(session, f"Acme {channel}")
    assert inbox is not None and inbox.channel == channel
    assert set(inbox.config) == CONTRACT_KEYS[channel]
    for key, typed in FORMS[channel].items():
        if "." not in key:
            assert inbox.config[key] == typed, key
    if channel in API_BASES:
        assert inbox.config["api_base"] == API_BASES[channel]
    # The URL to give the provider is shown at once, and no secret comes back.
    assert f"http://testserver/webhooks/{channel}/{inbox.id}" in response.text
    assert "is ready" in response.text
    no_secret_in(response.text)


def test_email_groups_and_the_twilio_menu_are_stored_as_the_contract_says(
    admin: TestClient, world: World, session: Session
) -> None:
    create(admin, "email", **{"imap.host": "imap.acme.example", "imap.username": "help"})
    email = inbox_named(session, "Acme email")
    assert email is not None
    assert set(email.config["smtp"]) == SMTP_KEYS and set(email.config["imap"]) == IMAP_KEYS
    assert email.config["smtp"] == {
        "host": "smtp.acme.example",
        "port": 465,
        "username": "help@acme.example",
        "password": "SECRET-smtp-password",
        "starttls": True,
    }
    # Blank port: the usual one; an unticked box is false.
    assert email.config["imap"] == {
        "host": "imap.acme.example",
        "port": 993,
        "username": "help",
        "password": "",
        "ssl": True,
        "folder": "INBOX",
    }

    menu = {"menu.team_id": [str(world.billing.id), "", ""]}
    assert create(admin, "twilio", **menu).status_code == 200
    twilio = inbox_named(session, "Acme twilio")
    assert twilio is not None
    assert twilio.config["menu"] == [
        {"digit": "1", "label": "Billing", "team_id": world.billing.id},
        {"digit": "2", "label": "Technical support", "team_id": None},
    ]


# What the inbox page shows


def test_the_inbox_page_shows_the_urls_to_give_each_provider(
    admin: TestClient, session: Session
) -> None:
    telegram = provider_inbox(session, "telegram", {"bot_token": "SECRET-t", "secret_token": "s"})
    page = admin.get(f"/settings/inboxes/{telegram.id}").text
    assert "Give your provider this URL" in page
    assert f"http://testserver/webhooks/telegram/{telegram.id}</code>" in page
    assert 'data-copy="hook"' in page  # a copy button, as the embed snippet has
    assert "docs/channels/telegram.md" in page

    twilio = provider_inbox(session, "twilio", {"account_sid": "AC1", "auth_token": "SECRET-t"})
    page = admin.get(f"/settings/inboxes/{twilio.id}").text
    assert f"http://testserver/webhooks/twilio/{twilio.id}/sms</code>" in page
    assert f"http://testserver/webhooks/twilio/{twilio.id}/voice</code>" in page

    email = provider_inbox(session, "email", {"address": "help@acme.example"})
    page = admin.get(f"/settings/inboxes/{email.id}").text
    assert f"http://testserver/webhooks/email/{email.id}</code>" in page
    assert 'id="hook-smtp"' not in page  # the tests run no SMTP listener (port 0)
    assert "help@acme.example" in page

    slack = provider_inbox(session, "slack", {"channel_id": "C1"})
    page = admin.get(f"/settings/inboxes/{slack.id}").text
    assert f"http://testserver/webhooks/slack/{slack.id}/interactive</code>" in page
    assert "Missing: Bot token, Signing secret" in page  # made through the API, half done


def test_email_names_handoffs_own_smtp_server_when_it_listens() -> None:
    inbox = Inbox(id=7, name="Mail", channel="email", config={"address": "help@acme.example"})
    found = {e.id: e.value for e in endpoints("https://help.example.com", inbox, 2525)}
    assert found == {
        "hook-smtp": "help.example.com:2525",
        "hook-raw": "https://help.example.com/webhooks/email/7",
    }
    telegram = Inbox(id=7, name="Bot", channel="telegram", config={})
    assert [e.value for e in endpoints("https://h", telegram, 0)] == [
        "https://h/webhooks/telegram/7"
    ]


def test_a_blank_email_webhook_secret_is_made_up_and_not_shown(
    admin: TestClient, session: Session
) -> None:
    response = create(admin, "email", webhook_secret="")
    assert response.status_code == 200, response.text
    inbox = inbox_named(session, "Acme email")
    assert inbox is not None
    secret = inbox.config["webhook_secret"]
    assert len(secret) > 20
    assert secret not in response.text
    assert secret not in admin.get(f"/settings/inboxes/{inbox.id}").text


def test_behind_a_proxy_the_urls_use_handoff_public_url(
    settings: Settings, session: Session
) -> None:
    world = build_world(session)
    inbox = provider_inbox(session, "whatsapp", {"app_secret": "SECRET-x"})
    app = create_app(settings.model_copy(update={"public_url": "https://help.example.com/"}))
    with TestClient(app, base_url="http://10.0.0.7:8000") as client:
        login(client, world.admin.email)
        page = client.get(f"/settings/inboxes/{inbox.id}").text
    assert f"https://help.example.com/webhooks/whatsapp/{inbox.id}</code>" in page
    assert "10.0.0.7" not in page


# Editing


def test_editing_keeps_a_secret_left_blank_and_never_shows_one(
    admin: TestClient, session: Session
) -> None:
    assert create(admin, "slack").status_code == 200
    inbox = inbox_named(session, "Acme slack")
    assert inbox is not None
    page = admin.get(f"/settings/inboxes/{inbox.id}").text
    no_secret_in(page)
    assert 'value="C0123456789"' in page  # plain values are shown to edit
    assert ">set</span>" in page and "Leave blank to keep the stored value" in page
    no_secret_in(admin.get("/settings/inboxes").text)

    saved = admin.post(
        f"/settings/inboxes/{inbox.id}",
        data={
            "name": "Acme Slack",
            "bot_token": "",
            "signing_secret": "SECRET-new-signing",
            "channel_id": "C999",
            "api_base": "",
        },
        headers=csrf_headers(admin),
    )
    assert saved.status_code == 200, saved.text
    assert "Saved." in saved.text
    no_secret_in(saved.text)
    inbox = inbox_named(session, "Acme Slack")
    assert inbox is not None
    assert inbox.config == {
        "bot_token": "xoxb-SECRET-slack-bot",  # left blank: kept
        "signing_secret": "SECRET-new-signing",  # typed: replaced
        "channel_id": "C999",
        "api_base": "https://slack.com/api/",  # emptied: the provider's own again
    }


def test_an_optional_secret_can_be_removed_and_other_keys_survive(
    admin: TestClient, session: Session
) -> None:
    inbox = provider_inbox(
        session,
        "email",
        {
            "address": "help@acme.example",
            "webhook_secret": "SECRET-kept",
            "smtp": {"host": "smtp.acme.example", "password": "SECRET-old", "port": 587},
            "extra": "set through the API",
        },
    )
    data = {
        "name": "Mail",
        "address": "help@acme.example",
        "smtp.host": "smtp.acme.example",
        "smtp.password.clear": "on",
        "smtp.starttls": "on",
        "imap.ssl": "on",
    }
    response = admin.post(f"/settings/inboxes/{inbox.id}", data=data, headers=csrf_headers(admin))
    assert response.status_code == 200, response.text
    stored = fresh(session).get(Inbox, inbox.id)
    assert stored is not None
    assert stored.config["webhook_secret"] == "SECRET-kept"
    assert stored.config["smtp"]["password"] == ""
    assert stored.config["extra"] == "set through the API"


def test_x_token_renewal_keys_are_stored_once_filled_in_and_cleared_on_edit(
    admin: TestClient, session: Session
) -> None:
    renewal = {"refresh_token": "SECRET-refresh", "client_id": "Y2xpZW50LWlk"}
    response = create(admin, "x", **renewal)
    assert response.status_code == 200, response.text
    inbox = inbox_named(session, "Acme x")
    assert inbox is not None
    assert set(inbox.config) == CONTRACT_KEYS["x"] | {"refresh_token", "client_id"}
    assert inbox.config["refresh_token"] == "SECRET-refresh"
    no_secret_in(response.text)

    # The admin stops the renewal: the refresh token removed, the client id emptied.
    data = {**FORMS["x"], "name": "Acme x", "refresh_token.clear": "on", "client_id": ""}
    response = admin.post(f"/settings/inboxes/{inbox.id}", data=data, headers=csrf_headers(admin))
    assert response.status_code == 200, response.text
    stored = fresh(session).get(Inbox, inbox.id)
    assert stored is not None
    assert stored.config["refresh_token"] == "" and stored.config["client_id"] == ""
    assert stored.config["access_token"] == FORMS["x"]["access_token"]


def test_an_x_token_x_would_not_renew_is_shown_to_the_admin(
    admin: TestClient, session: Session
) -> None:
    refused = "X refused to renew the access token (400): <b>Value</b> was invalid."
    config = {**FORMS["x"], "refresh_token": "SECRET-spent", "token_error": refused}
    inbox = provider_inbox(session, "x", config)

    page = admin.get(f"/settings/inboxes/{inbox.id}").text
    assert "X refused to renew the access token, so replies stop when it runs out" in page
    assert "&lt;b&gt;Value&lt;/b&gt; was invalid." in page and "<b>Value</b>" not in page
    assert "Access token not renewed: authorize again" in admin.get("/settings/inboxes").text
    no_secret_in(page)


# Mistakes


@pytest.mark.parametrize(
    ("channel", "changes", "field", "message"),
    [
        ("slack", {"signing_secret": ""}, "signing_secret", "Enter a value for Signing secret."),
        ("email", {"smtp.port": "twenty-five"}, "smtp.port", "The port must be a whole number"),
        ("email", {"address": "not-an-address"}, "address", "Enter an email address"),
        ("email", {"smtp.host": ""}, "smtp.host", "Enter the host for Outgoing mail (SMTP)"),
        ("telegram", {"secret_token": "has spaces"}, "secret_token", "only letters, digits"),
        ("telegram", {"api_base": "ftp://x"}, "api_base", "must start with https://"),
        ("x", {"account_id": "@acme"}, "account_id", "not the @handle"),
        ("twilio", {"phone_number": "415 555"}, "phone_number", "with + and the country code"),
        ("twilio", {"menu.digit": ["1", "1", ""]}, "menu.digit", "Key 1 is used twice"),
        ("twilio", {"menu.digit": ["1", "12", ""]}, "menu.digit", "one digit, 0 to 9"),
        ("twilio", {"menu.digit": ["1", "#", ""]}, "menu.digit", "one digit, 0 to 9"),
        ("twilio", {"menu.team_id": ["", "999", ""]}, "menu.team_id", "team no longer exists"),
        ("twilio", {"menu.label": ["Billing", "", ""]}, "menu.label", "Say what key 2 is for"),
    ],
)
def test_a_mistake_is_explained_beside_its_field_and_nothing_is_stored(
    admin: TestClient,
    session: Session,
    channel: str,
    changes: dict[str, Any],
    field: str,
    message: str,
) -> None:
    response = create(admin, channel, **changes)
    assert response.status_code == 422
    assert message in response.text
    assert field in invalid_names(response.text)
    assert 'class="field-error" role="alert"' in response.text  # beside it, not a banner
    assert inbox_named(session, f"Acme {channel}") is None
    no_secret_in(response.text)
    # What was typed stays, so only the mistake needs fixing.
    if channel == "twilio":
        assert 'value="+14155550100"' in response.text or "phone_number" in field


def test_a_required_secret_never_stored_must_be_typed_on_edit(
    admin: TestClient, session: Session
) -> None:
    inbox = provider_inbox(session, "telegram", {"bot_token": "SECRET-t"})
    response = admin.post(
        f"/settings/inboxes/{inbox.id}",
        data={"name": "Bot", "bot_token": "", "secret_token": "", "api_base": ""},
        headers=csrf_headers(admin),
    )
    assert response.status_code == 422
    assert "Enter a value for Secret token." in response.text
    assert invalid_names(response.text) == ["secret_token"]
    no_secret_in(response.text)
    stored = fresh(session).get(Inbox, inbox.id)
    assert stored is not None and stored.name == "Acme telegram"


def test_nonsense_is_a_422_never_a_500(admin: TestClient, session: Session) -> None:
    cases: list[dict[str, Any]] = [
        {"channel": "fax", "name": "X"},
        {"channel": "twilio", "name": "X", "menu.digit": ["1"], "menu.label": []},
        {"channel": "email", "name": "X", "address": "a@b.co", "smtp.port": "99999"},
    ]
    for data in cases:
        response = admin.post("/settings/inboxes", data=data, headers=csrf_headers(admin))
        assert response.status_code == 422, data


# Who may


@pytest.mark.parametrize("email", ["dana@example.com", "maria@example.com"])
def test_only_admins_connect_channels(
    app_client: TestClient, world: World, session: Session, email: str
) -> None:
    inbox = provider_inbox(session, "slack", {"bot_token": "SECRET-b", "channel_id": "C1"})
    login(app_client, email)
    page = app_client.get(f"/settings/inboxes/{inbox.id}")
    assert page.status_code == 403
    no_secret_in(page.text)
    headers = csrf_headers(app_client)
    assert create(app_client, "telegram").status_code == 403
    changed = app_client.post(
        f"/settings/inboxes/{inbox.id}",
        data={"name": "Mine", "bot_token": "SECRET-stolen", "channel_id": "C2"},
        headers=headers,
    )
    assert changed.status_code == 403
    assert inbox_named(session, "Acme telegram") is None
    stored = fresh(session).get(Inbox, inbox.id)
    assert stored is not None and stored.config["bot_token"] == "SECRET-b"


def test_an_email_inbox_without_outgoing_mail_says_replies_cannot_go_out(
    admin: TestClient, session: Session
) -> None:
    lacking = provider_inbox(session, "email", {"address": "help@acme.example"})
    page = admin.get(f"/settings/inboxes/{lacking.id}").text
    assert "Replies cannot go out yet: set Outgoing mail (SMTP)." in page
    smtp = {"host": "smtp.acme.example", "port": 587}
    ready = provider_inbox(session, "email", {"address": "b@acme.example", "smtp": smtp})
    assert "Replies cannot go out yet" not in admin.get(f"/settings/inboxes/{ready.id}").text
