"""The headers of every file Handoff hands out: to agents, to a visitor of the web chat, to
a provider fetching an MMS's media (channels/media_links.py)."""

from __future__ import annotations

from urllib.parse import quote


def download_headers(filename: str) -> dict[str, str]:
    """Always a download, never a page of our origin (a file could be HTML); `filename` for
    readers that do not know `filename*` (RFC 6266), which keeps the real name in UTF-8."""
    plain = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename
    )
    disposition = f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename)}"
    return {
        "content-disposition": disposition,
        "x-content-type-options": "nosniff",
        # Whoever fetched it may keep it; no cache in between.
        "cache-control": "private, no-store",
    }
