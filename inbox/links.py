"""Links the customer follows from a message (the CSAT survey), made absolute.

A relative `/csat/...` works inside the chat widget, but a Telegram, SMS or email customer
needs the whole address. The app sets it on start from HANDOFF_PUBLIC_URL (or the address it
serves on); the domain only asks for it.
"""

from __future__ import annotations

_public_base = "http://127.0.0.1:8000"


def set_public_base(url: str) -> None:
    global _public_base
    _public_base = url.rstrip("/")


def public_link(path: str) -> str:
    return f"{_public_base}{path}"
