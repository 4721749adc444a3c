"""What the settings form asks for each provider channel (docs/channels/README.md).

One spec per channel names its config keys exactly as CONTRACT.md does, with a label, where
the admin finds the value at the provider, and how it is typed. `check_config` turns a posted
form into that config; secrets are never sent back to the page: a blank secret on edit keeps
the stored one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from sqlmodel import Session, col, select
from starlette.datastructures import FormData

from inbox.errors import InvalidInput
from inbox.models import Inbox, Team

from .i18n import N_, gettext

Kind = Literal["text", "number", "checkbox", "url", "email"]
MENU_ROWS_BLANK = 3  # empty menu rows offered under the stored ones; saving offers more


@dataclass(frozen=True)
class Field:
    """One config key: `name` is its form name (`smtp.host` inside a group)."""

    key: str
    label: str
    help: str = ""
    kind: Kind = "text"
    secret: bool = False
    required: bool = False
    default: str | int | bool = ""
    advanced: bool = False
    placeholder: str = ""
    removable: bool = True  # an optional secret the edit form offers to remove
    # A value the provider would refuse, caught here: the pattern and what to say.
    pattern: str = ""
    pattern_error: str = ""
    group: str = ""
    # A key beyond CONTRACT.md's for its channel (X's token renewal): stored only once filled
    # in, so an inbox that does not use it has exactly the contract's keys.
    extension: bool = False

    @property
    def name(self) -> str:
        return f"{self.group}.{self.key}" if self.group else self.key


@dataclass(frozen=True)
class Group:
    """A nested object of the config (email's `smtp` and `imap`), used only once its host is."""

    key: str
    label: str
    help: str
    fields: tuple[Field, ...]


@dataclass(frozen=True)
class Endpoint:
    """A URL (or server) to give the provider, and where in its console it goes."""

    label: str
    value: str
    hint: str
    id: str


@dataclass(frozen=True)
class ChannelForm:
    channel: str
    title: str
    blurb: str
    doc: str
    items: tuple[Field | Group, ...]
    menu: bool = False  # Twilio's voice menu: rows of digit, label and team
    summary: str = ""  # the key the inboxes table shows
    groups: tuple[Group, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "groups", tuple(i for i in self.items if isinstance(i, Group)))

    @property
    def fields(self) -> list[Field]:
        """Every field, a group's in place."""
        found: list[Field] = []
        for item in self.items:
            found.extend(item.fields if isinstance(item, Group) else [item])
        return found

    @property
    def basic(self) -> list[Field | Group]:
        return [i for i in self.items if isinstance(i, Group) or not i.advanced]

    @property
    def advanced(self) -> list[Field]:
        return [i for i in self.items if isinstance(i, Field) and i.advanced]

    @property
    def names(self) -> set[str]:
        return {f.name for f in self.fields} | ({"menu"} if self.menu else set())


def api_base(default: str) -> Field:
    """The provider's public API, prefilled; tests and proxies point it elsewhere."""
    return Field(
        "api_base",
        N_("API base URL"),
        N_("The provider's public API. Change it only to go through a proxy or a test stand-in."),
        kind="url",
        default=default,
        advanced=True,
        required=True,
    )


def group(key: str, label: str, help: str, *fields: Field) -> Group:
    return Group(key, label, help, tuple(_in_group(f, key) for f in fields))


def _in_group(f: Field, key: str) -> Field:
    return Field(**{**f.__dict__, "group": key})


PORT = N_("Port")
USERNAME = N_("Username")
PASSWORD = N_("Password")
HOST = N_("Host")
# Meta lets the app owner pick the verify token; Handoff answers the subscription check with it.
VERIFY_TOKEN_HELP = N_(
    "Any phrase you choose; type the same one in the Meta app's webhook settings."
)
APP_SECRET_HELP = N_("Meta app → App settings → Basic → App secret")
GRAPH_API = api_base("https://graph.facebook.com/v21.0")
# WhatsApp and Messenger are products of one Meta app: one secret signs the webhooks of both.
META_APP = (
    Field("app_secret", N_("App secret"), APP_SECRET_HELP, secret=True, required=True),
    Field("verify_token", N_("Verify token"), VERIFY_TOKEN_HELP, secret=True, required=True),
)

# Values as the providers' own clients use them (CONTRACT.md, "Inbox config, per channel").
FORMS: tuple[ChannelForm, ...] = (
    ChannelForm(
        "email",
        N_("Email"),
        N_("A support address"),
        "docs/channels/email.md",
        (
            Field(
                "address",
                N_("Support address"),
                N_("The address customers write to, e.g. support@example.com."),
                kind="email",
                required=True,
                placeholder="support@example.com",
            ),
            Field(
                "webhook_secret",
                N_("Webhook secret"),
                N_(
                    "For a mail service that posts raw messages: it sends this as the HTTP Basic "
                    "password, user handoff. Left blank, Handoff sets a random one; type your "
                    "own to give the service."
                ),
                secret=True,
                # Never removable: the raw-message POST must always need a password.
                removable=False,
            ),
            group(
                "smtp",
                N_("Outgoing mail (SMTP)"),
                N_("The server replies are sent through, from your mail provider's settings."),
                Field("host", HOST, placeholder="smtp.example.com"),
                Field("port", PORT, kind="number", default=587),
                Field("username", USERNAME),
                Field("password", PASSWORD, secret=True),
                Field("starttls", N_("Use STARTTLS"), kind="checkbox", default=True),
            ),
            group(
                "imap",
                N_("Incoming mail (IMAP)"),
                N_("Handoff polls this mailbox for new mail."),
                Field("host", HOST, placeholder="imap.example.com"),
                Field("port", PORT, kind="number", default=993),
                Field("username", USERNAME),
                Field("password", PASSWORD, secret=True),
                Field("ssl", N_("Use SSL"), kind="checkbox", default=True),
                Field("folder", N_("Folder"), default="INBOX"),
            ),
        ),
        summary="address",
    ),
    ChannelForm(
        "slack",
        N_("Slack"),
        N_("A channel in your Slack"),
        "docs/channels/slack.md",
        (
            Field(
                "bot_token",
                N_("Bot token"),
                N_("Slack app → OAuth & Permissions → Bot User OAuth Token (xoxb-…)"),
                secret=True,
                required=True,
            ),
            Field(
                "signing_secret",
                N_("Signing secret"),
                N_("Slack app → Basic Information → Signing Secret"),
                secret=True,
                required=True,
            ),
            Field(
                "channel_id",
                N_("Channel ID"),
                N_("In Slack, open the channel's details; the ID is at the bottom (C…)."),
                required=True,
                placeholder="C0123456789",
            ),
            api_base("https://slack.com/api/"),
        ),
        summary="channel_id",
    ),
    ChannelForm(
        "telegram",
        N_("Telegram"),
        N_("A Telegram bot"),
        "docs/channels/telegram.md",
        (
            Field(
                "bot_token",
                N_("Bot token"),
                N_("Telegram → @BotFather → /newbot (or /token) answers it."),
                secret=True,
                required=True,
                placeholder="123456:ABC-DEF…",
            ),
            Field(
                "secret_token",
                N_("Secret token"),
                N_("Any phrase you choose; pass it as secret_token when you call setWebhook."),
                secret=True,
                required=True,
                pattern=r"[A-Za-z0-9_-]{1,256}",
                pattern_error=N_(
                    "Telegram allows only letters, digits, _ and - here, up to 256 characters."
                ),
            ),
            api_base("https://api.telegram.org"),
        ),
    ),
    ChannelForm(
        "whatsapp",
        N_("WhatsApp"),
        N_("WhatsApp Business"),
        "docs/channels/whatsapp.md",
        (
            Field(
                "access_token",
                N_("Access token"),
                N_(
                    "Meta Business settings → System users → Generate token (whatsapp_business_"
                    "messaging)"
                ),
                secret=True,
                required=True,
            ),
            *META_APP,
            Field(
                "phone_number_id",
                N_("Phone number ID"),
                N_("Meta app → WhatsApp → API Setup → Phone number ID"),
                required=True,
                pattern=r"[0-9]+",
                pattern_error=N_("The phone number ID is a number, not the phone number."),
            ),
            GRAPH_API,
        ),
        summary="phone_number_id",
    ),
    ChannelForm(
        "messenger",
        N_("Messenger"),
        N_("A Facebook page"),
        "docs/channels/messenger.md",
        (
            Field(
                "page_access_token",
                N_("Page access token"),
                N_("Meta app → Messenger → Settings → Access tokens → Generate for your page"),
                secret=True,
                required=True,
            ),
            *META_APP,
            Field(
                "page_id",
                N_("Page ID"),
                N_("Your Facebook page → About → Page transparency → Page ID"),
                required=True,
                pattern=r"[0-9]+",
                pattern_error=N_("The page ID is a number."),
            ),
            GRAPH_API,
        ),
        summary="page_id",
    ),
    ChannelForm(
        "x",
        N_("X"),
        N_("Direct messages"),
        "docs/channels/x.md",
        (
            Field(
                "consumer_secret",
                N_("API key secret"),
                N_("X Developer Portal → your app → Keys and tokens → API Key Secret"),
                secret=True,
                required=True,
            ),
            Field(
                "access_token",
                N_("User access token"),
                N_(
                    "The support account's OAuth 2.0 token, scopes dm.read dm.write tweet.read "
                    "users.read"
                ),
                secret=True,
                required=True,
            ),
            Field(
                "account_id",
                N_("Account user ID"),
                N_("The support account's numeric user id: its own messages are not customers'."),
                required=True,
                pattern=r"[0-9]+",
                pattern_error=N_("The account user ID is a number, not the @handle."),
            ),
            # Optional: without them the admin keeps the access token current, as before.
            Field(
                "refresh_token",
                N_("Refresh token"),
                N_(
                    "Given with the access token when the account authorizes the scope "
                    "offline.access. With it, Handoff renews the access token itself before its "
                    "two hours run out; without it, replies stop when the token expires."
                ),
                secret=True,
                extension=True,
            ),
            Field(
                "client_id",
                N_("OAuth 2.0 client ID"),
                N_(
                    "X Developer Portal → your app → Keys and tokens → OAuth 2.0 Client ID; "
                    "needed with a refresh token."
                ),
                extension=True,
            ),
            Field(
                "client_secret",
                N_("OAuth 2.0 client secret"),
                N_(
                    "Only for a confidential client (a web app or an automated app or bot): the "
                    "OAuth 2.0 Client Secret beside the client ID."
                ),
                secret=True,
                extension=True,
            ),
            api_base("https://api.twitter.com"),
        ),
        summary="account_id",
    ),
    ChannelForm(
        "twilio",
        N_("SMS and voice"),
        N_("A Twilio number"),
        "docs/channels/twilio.md",
        (
            Field(
                "account_sid",
                N_("Account SID"),
                N_("Twilio Console → Account dashboard → Account SID (AC…)"),
                required=True,
                pattern=r"AC[0-9A-Za-z]+",
                pattern_error=N_("The Account SID starts with AC."),
            ),
            Field(
                "auth_token",
                N_("Auth token"),
                N_("Twilio Console → Account dashboard → Auth Token"),
                secret=True,
                required=True,
            ),
            Field(
                "phone_number",
                N_("Phone number"),
                N_("Your Twilio number in international format, e.g. +14155550100."),
                required=True,
                placeholder="+14155550100",
                pattern=r"\+[1-9][0-9]{6,14}",
                pattern_error=N_("Write the number with + and the country code, no spaces."),
            ),
            api_base("https://api.twilio.com"),
        ),
        menu=True,
        summary="phone_number",
    ),
)
BY_CHANNEL = {f.channel: f for f in FORMS}
SECRET_NAMES = frozenset(f.name for form in FORMS for f in form.fields if f.secret)


def form_for(channel: str) -> ChannelForm | None:
    return BY_CHANNEL.get(channel)


# Reading a posted form


def _error(message: str, name: str) -> InvalidInput:
    return InvalidInput(message, {"field": name})


def _stored(config: dict[str, Any], f: Field) -> Any:
    holder = config.get(f.group) if f.group else config
    return holder.get(f.key) if isinstance(holder, dict) else None


def _check(f: Field, form: FormData, stored: dict[str, Any] | None) -> Any:
    label = gettext(f.label)
    raw = form.get(f.name)
    if f.kind == "checkbox":
        return raw is not None
    value = str(raw or "").strip()
    if f.secret and not value:
        if f.removable and form.get(f.name + ".clear") is not None:
            return ""
        kept = _stored(stored, f) if stored is not None else None
        value = str(kept or "")
    if not value and f.default != "":
        return f.default
    if not value:
        if f.required:
            raise _error(gettext("Enter a value for %(field)s.") % {"field": label}, f.name)
        return ""
    if f.kind == "number":
        if not value.isdigit() or not 1 <= int(value) <= 65535:
            raise _error(gettext("The port must be a whole number from 1 to 65535."), f.name)
        return int(value)
    if f.kind == "url" and not (
        urlsplit(value).scheme in ("https", "http") and urlsplit(value).netloc
    ):
        raise _error(gettext("%(field)s must start with https://") % {"field": label}, f.name)
    if f.kind == "email" and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
        raise _error(gettext("Enter an email address like support@example.com."), f.name)
    if f.pattern and not re.fullmatch(f.pattern, value):
        raise _error(gettext(f.pattern_error), f.name)
    return value


def _group_in_use(g: Group, form: FormData) -> bool:
    """A group counts once anything but its defaults is typed in it."""
    for f in g.fields:
        if f.kind in ("checkbox", "number"):
            continue
        typed = str(form.get(f.name) or "").strip()
        if typed and typed != f.default:
            return True
    return False


def check_config(
    session: Session,
    spec: ChannelForm,
    form: FormData,
    stored: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The config the form describes, each CONTRACT key once; `stored` on edit keeps secrets."""
    config: dict[str, Any] = {}
    for item in spec.items:
        if isinstance(item, Field):
            value = _check(item, form, stored)
            # On edit a blank one is written too: it clears what the merge would keep.
            if value != "" or not item.extension or (stored is not None and item.key in stored):
                config[item.key] = value
            continue
        # Within a group only the host is needed, and only once the group is used at all.
        values = {f.key: _check(f, form, stored) for f in item.fields}
        if _group_in_use(item, form) and not values["host"]:
            raise _error(
                gettext("Enter the host for %(group)s, or leave its fields empty.")
                % {"group": gettext(item.label)},
                f"{item.key}.host",
            )
        before = stored.get(item.key) if stored else None
        config[item.key] = {**(before if isinstance(before, dict) else {}), **values}
    if spec.menu:
        config["menu"] = check_menu(session, form)
    return config


def menu_rows_typed(form: FormData) -> list[dict[str, str]]:
    digits, labels, teams = (
        [str(v).strip() for v in form.getlist(f"menu.{key}")]
        for key in ("digit", "label", "team_id")
    )
    size = max(len(digits), len(labels), len(teams))

    def at(values: list[str], i: int) -> str:
        return values[i] if i < len(values) else ""

    return [
        {"digit": at(digits, i), "label": at(labels, i), "team_id": at(teams, i)}
        for i in range(size)
    ]


def check_menu(session: Session, form: FormData) -> list[dict[str, Any]]:
    """Twilio's voice menu: one key 0-9 per row, each once, a label, an existing team or none."""
    menu: list[dict[str, Any]] = []
    seen: set[str] = set()
    rows = menu_rows_typed(form)
    wanted = [int(r["team_id"]) for r in rows if r["team_id"].isdigit()]
    known = set(session.exec(select(Team.id).where(col(Team.id).in_(wanted))).all())
    for i, row in enumerate(rows):
        where = f"menu.{i}"
        if not (row["digit"] or row["label"]):
            continue  # a blank row, left for adding an entry
        digit = row["digit"]
        if len(digit) != 1 or digit not in "0123456789":
            raise _error(gettext("Each menu key is one digit, 0 to 9."), where)
        if digit in seen:
            raise _error(
                gettext("Key %(digit)s is used twice in the menu.") % {"digit": digit}, where
            )
        if not row["label"]:
            raise _error(
                gettext("Say what key %(digit)s is for, e.g. Billing.") % {"digit": digit}, where
            )
        team = row["team_id"]
        if team and (not team.isdigit() or int(team) not in known):
            raise _error(gettext("That team no longer exists; pick another."), where)
        seen.add(digit)
        menu.append({"digit": digit, "label": row["label"], "team_id": int(team) if team else None})
    return menu


# What the page shows


def shown_values(spec: ChannelForm, config: dict[str, Any] | None) -> dict[str, Any]:
    """Form values: the stored ones on edit, else the defaults. Secrets are left out."""
    values: dict[str, Any] = {}
    for f in spec.fields:
        if f.secret:
            continue
        stored = _stored(config, f) if config is not None else None
        if stored is None:
            stored = f.default
        values[f.name] = stored if f.kind == "checkbox" else str(stored)
    return values


def typed_values(spec: ChannelForm, form: FormData) -> dict[str, Any]:
    """What was typed, to show again beside an error (never a secret)."""
    values: dict[str, Any] = {}
    for f in spec.fields:
        if f.secret:
            continue
        raw = form.get(f.name)
        values[f.name] = raw is not None if f.kind == "checkbox" else str(raw or "")
    return values


def secrets_set(spec: ChannelForm, config: dict[str, Any]) -> dict[str, bool]:
    return {f.name: bool(_stored(config, f)) for f in spec.fields if f.secret}


def missing(spec: ChannelForm, config: dict[str, Any]) -> list[str]:
    """Labels of required values the inbox lacks (one created through the API, say)."""
    return [
        f.label
        for f in spec.fields
        if f.required and not f.group and f.default == "" and not _stored(config, f)
    ]


def menu_rows(entries: Iterable[Any], blank: int = MENU_ROWS_BLANK) -> list[dict[str, str]]:
    """Stored (or typed) menu rows as strings, plus empty ones to add more without script."""
    rows: list[dict[str, str]] = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        team = entry.get("team_id")
        rows.append(
            {
                "digit": str(entry.get("digit") or ""),
                "label": str(entry.get("label") or ""),
                "team_id": "" if team is None else str(team),
            }
        )
    filled = [r for r in rows if r["digit"] or r["label"] or r["team_id"]]
    return filled + [{"digit": "", "label": "", "team_id": ""} for _ in range(blank)]


def endpoints(base: str, inbox: Inbox, smtp_port: int) -> Sequence[Endpoint]:
    """Where the provider sends this inbox's messages (CONTRACT.md, "Channel webhooks")."""
    hook = f"{base}/webhooks/{inbox.channel}/{inbox.id}"
    if inbox.channel == "slack":
        return [
            Endpoint(
                N_("Events"),
                hook,
                N_("Slack app → Event Subscriptions → Request URL; subscribe to message.channels."),
                "hook-events",
            ),
            Endpoint(
                N_("Buttons"),
                f"{hook}/interactive",
                N_("Slack app → Interactivity & Shortcuts → Request URL"),
                "hook-interactive",
            ),
        ]
    if inbox.channel == "telegram":
        return [
            Endpoint(
                N_("Webhook"),
                hook,
                N_("Call setWebhook with this url and your secret token as secret_token."),
                "hook",
            )
        ]
    if inbox.channel in ("whatsapp", "messenger"):
        return [
            Endpoint(
                N_("Callback URL"),
                hook,
                N_(
                    "Meta app → Webhooks: this callback URL with your verify token; subscribe to "
                    "messages."
                ),
                "hook",
            )
        ]
    if inbox.channel == "x":
        return [
            Endpoint(
                N_("Webhook"),
                hook,
                N_("Register it with X (POST /2/webhooks), then subscribe the support account."),
                "hook",
            )
        ]
    if inbox.channel == "twilio":
        return [
            Endpoint(
                N_("Messaging"),
                f"{hook}/sms",
                N_("Phone number → Messaging → A message comes in: Webhook, HTTP POST"),
                "hook-sms",
            ),
            Endpoint(
                N_("Voice"),
                f"{hook}/voice",
                N_("Phone number → Voice → A call comes in: Webhook, HTTP POST"),
                "hook-voice",
            ),
        ]
    if inbox.channel == "email":
        host = urlsplit(base).hostname or base
        # HANDOFF_SMTP_PORT=0 runs no SMTP listener: then only the POST takes mail in.
        smtp = Endpoint(
            N_("Mail server (SMTP)"),
            f"{host}:{smtp_port}",
            N_("Route mail for the support address here: an MX record or a forwarding rule."),
            "hook-smtp",
        )
        return [
            *([smtp] if smtp_port else []),
            Endpoint(
                N_("Raw message POST"),
                hook,
                N_(
                    "POST the raw message with HTTP Basic auth: user handoff, password the "
                    "webhook secret."
                ),
                "hook-raw",
            ),
        ]
    return []
