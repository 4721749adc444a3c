"""Customers' HTML (email bodies), made safe to show to agents with nh3.

Scripts, event handlers, forms, iframes and styles go; links keep their target but open
in a new tab without a referrer; remote images are kept as links only, so opening a mail
does not tell a tracker that it was read.
"""

from __future__ import annotations

import nh3

MAX_HTML = 512 * 1024

_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "div", "dl", "dt", "em", "h1", "h2",
    "h3", "h4", "h5", "h6", "hr", "i", "li", "ol", "p", "pre", "s", "small", "span", "strong",
    "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
}  # fmt: skip
_ATTRIBUTES = {"a": {"href", "title"}, "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan"}}


def clean_html(html: str | None) -> str | None:
    if not html or not html.strip():
        return None
    cleaned = nh3.clean(
        html[:MAX_HTML],
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        strip_comments=True,
    )
    return cleaned.strip() or None
