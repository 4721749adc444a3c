"""Translations (docs/concepts/languages.md): gettext catalogs under locales/, picked per request.

Agents see their own UI language; customers see theirs (the contact's stored language, else
the browser's Accept-Language). Right-to-left languages flip the layout with `dir="rtl"`.
"""

from __future__ import annotations

from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.support import NullTranslations, Translations
from starlette.types import ASGIApp, Receive, Scope, Send

# The marker for strings translated later by value: the domain's, so its messages use it too.
from inbox.errors import N_ as N_

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DEFAULT_LOCALE = "en"
RTL = {"ar", "he", "fa", "ur"}
# Browsers say "no" (Norwegian) or "nn" (Nynorsk) too; Bokmål is the written Norwegian we ship.
NORWEGIAN = {"no": ("nb",), "nn": ("nb",)}

current_locale: ContextVar[str] = ContextVar("current_locale", default=DEFAULT_LOCALE)


@cache
def available_locales() -> tuple[str, ...]:
    """The compiled catalogs shipped with this build (read once: they change only on deploy)."""
    found = (
        {p.name for p in LOCALES_DIR.iterdir() if (p / "LC_MESSAGES").is_dir()}
        if LOCALES_DIR.is_dir()
        else set()
    )
    return tuple(sorted(found | {DEFAULT_LOCALE}))


@cache
def translations(locale: str) -> NullTranslations:
    try:
        return Translations.load(str(LOCALES_DIR), [locale], domain="messages")
    except OSError:
        return NullTranslations()


def gettext(message: str) -> str:
    return translations(current_locale.get()).ugettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current_locale.get()).ungettext(singular, plural, n)


def lazy_locale_name(code: str) -> str:
    try:
        return Locale.parse(code).get_display_name(code) or code
    except (ValueError, UnknownLocaleError):
        return code


def text_direction(locale: str | None = None) -> str:
    return "rtl" if (locale or current_locale.get()).split("-")[0].split("_")[0] in RTL else "ltr"


def best_match(accept_language: str | None, stored: str | None = None) -> str:
    """The customer's language: stored on the contact, else the best of Accept-Language.

    Case does not matter (`PL`, `pl-pl`); `q=0` means "not this one"; Norwegian sent as
    `no` or `nn` gets the Bokmål catalog.
    """
    supported = available_locales()
    candidates: list[tuple[float, str]] = []
    if stored:
        candidates.append((2.0, stored))
    for part in (accept_language or "").split(","):
        lang, _, q = part.strip().partition(";q=")
        if not lang:
            continue
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            weight = 0.0
        if weight > 0:
            candidates.append((weight, lang))
    for _, lang in sorted(candidates, key=lambda c: -c[0]):
        language, _, region = lang.strip().replace("-", "_").partition("_")
        language = language.lower()
        options = [f"{language}_{region.upper()}"] if region else []
        options += [language, *NORWEGIAN.get(language, ())]
        for option in options:
            if option in supported:
                return option
    return DEFAULT_LOCALE


class LocaleMiddleware:
    """Sets the request's language: the agent's choice (kept in the session), else the browser's."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        session = scope.get("session") or {}
        accept = dict(scope.get("headers") or []).get(b"accept-language", b"").decode("latin-1")
        chosen = session.get("locale") if isinstance(session.get("locale"), str) else None
        token = current_locale.set(chosen if chosen in available_locales() else best_match(accept))
        try:
            await self.app(scope, receive, send)
        finally:
            current_locale.reset(token)


# Values shown through `_(value)` in templates; listed here so extraction finds them.
DYNAMIC_LABELS = [
    N_("open"),
    N_("pending"),
    N_("snoozed"),
    N_("resolved"),
    N_("low"),
    N_("normal"),
    N_("high"),
    N_("urgent"),
    N_("received"),
    N_("sent"),
    N_("delivered"),
    N_("read"),
    N_("failed"),
    N_("Mine"),
    N_("Unassigned"),
    N_("My teams"),
    N_("Mentions"),
    N_("All"),
]
