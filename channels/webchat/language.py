"""The customer's language in the widget (docs/channels/webchat.md, "Languages")."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from web.i18n import best_match, current_locale

LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")


def _primary(code: str) -> str:
    return code.replace("-", "_").split("_")[0].lower()


def preferred(accept_language: str | None) -> list[str]:
    """The browser's languages, most wanted first."""
    weighted: list[tuple[float, str]] = []
    for part in (accept_language or "").split(","):
        tag, _, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            weight = 0.0
        if LANGUAGE_TAG.match(tag) and weight > 0:
            weighted.append((weight, tag))
    return [tag for _, tag in sorted(weighted, key=lambda w: -w[0])]


def customer_locale(accept_language: str | None, stored: str | None = None) -> str:
    """The best catalog we have for them; or, when we have none of their languages yet, their
    first language anyway, so that `lang` and `dir` are theirs (Arabic reads right to left)
    while the words fall back to English."""
    chosen = best_match(accept_language, stored)
    wanted = ([stored] if stored and LANGUAGE_TAG.match(stored) else []) + preferred(
        accept_language
    )
    if not wanted or any(_primary(w) == _primary(chosen) for w in wanted):
        return chosen
    return _primary(wanted[0])


def browser_language(accept_language: str | None) -> str | None:
    """The visitor's first language, kept on the contact for agents and later visits."""
    first = preferred(accept_language)
    return first[0].replace("-", "_")[:16] if first else None


@contextmanager
def customer_language(accept_language: str | None, stored: str | None = None) -> Iterator[str]:
    """Speak the customer's language, not a signed-in agent's: one browser may be both."""
    token = current_locale.set(customer_locale(accept_language, stored))
    try:
        yield current_locale.get()
    finally:
        current_locale.reset(token)
