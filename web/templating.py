"""Jinja2 with named blocks for htmx swaps (jinja2-fragments) and gettext for every string."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from jinja2_fragments.starlette import Jinja2Blocks
from markupsafe import Markup

from inbox.html import clean_html

from . import i18n

ROOT = Path(__file__).resolve().parent.parent
# Short labels rather than emoji: they render on every system font, in every script.
CHANNEL_LABELS = {
    "webchat": i18n.N_("Chat"),
    "email": i18n.N_("Mail"),
    "slack": "Slack",
    "telegram": "TG",
    "whatsapp": "WA",
    "messenger": "FB",
    "x": "X",
    "twilio": "SMS",
    "api": "API",
}


def channel_label(channel: str) -> str:
    return i18n.gettext(CHANNEL_LABELS.get(channel, channel))


def ago(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    seconds = int((datetime.now(UTC) - value).total_seconds())
    if seconds < 60:
        return i18n.gettext("just now")
    if seconds < 3600:
        return i18n.gettext("%(n)d min") % {"n": seconds // 60}
    if seconds < 86400:
        return i18n.gettext("%(n)d h") % {"n": seconds // 3600}
    return i18n.gettext("%(n)d d") % {"n": seconds // 86400}


def iso(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def _clean_html(html: str | None) -> Markup:
    """Stored HTML was sanitized on the way in; cleaned again on the way out, so a rule
    tightened later protects old mail too."""
    return Markup(clean_html(html) or "")


def _filesize(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def make_templates() -> Jinja2Blocks:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(ROOT / "templates")),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        # Templates are read once per process, like the code: otherwise every render (two per
        # customer message, for the live fragments) stats its file to see if it changed.
        auto_reload=False,
    )
    templates = Jinja2Blocks(env=env)
    env.install_gettext_callables(  # type: ignore[attr-defined]
        i18n.gettext, i18n.ngettext, newstyle=True
    )
    env.filters["ago"] = ago
    env.filters["iso"] = iso
    env.filters["clean_html"] = _clean_html
    env.filters["filesize"] = _filesize
    env.globals["channel_icon"] = channel_label
    env.globals["text_direction"] = i18n.text_direction
    env.globals["current_locale"] = i18n.current_locale.get
    env.globals["locale_name"] = i18n.lazy_locale_name
    return templates


def render_block(templates: Jinja2Blocks, template: str, block: str, **context: Any) -> str:
    """One named block as a string, for websocket pushes rendered once per event."""
    tpl = templates.env.get_template(template)
    return "".join(tpl.blocks[block](tpl.new_context(context)))
