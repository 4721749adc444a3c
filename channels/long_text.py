"""Replies longer than a provider takes in one message: cut, sent in order, resumed.

Every provider caps a message (Telegram 4096 UTF-16 units, Messenger 2000 characters, Twilio
1600, Slack 40,000, X 10,000); a long reply goes out as several, cut at a paragraph, a line or
a space, never inside a word when it can be helped.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from .base import OutboundMessage, SendFailed


def one_unit(char: str) -> int:
    return 1


def utf16_units(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


def split_text(text: str, limit: int, weight: Callable[[str], int] = one_unit) -> list[str]:
    """`text` in parts of at most `limit` (each character counted by `weight`), cut at a
    paragraph, a line or a space when one falls in the second half of the part."""
    parts: list[str] = []
    rest = text.strip()
    while rest:
        total, end = 0, 0
        for index, char in enumerate(rest):
            total += weight(char)
            if total > limit:
                break
            end = index + 1
        else:
            parts.append(rest)
            break
        cut = max(end, 1)
        for separator in ("\n\n", "\n", " "):
            at = rest.rfind(separator, 0, end)
            if at >= end // 2 and at > 0:
                cut = at
                break
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return parts


class PartsSent:
    """Which parts of a long reply already went out, so that a retry after a failure in the
    middle (a 429 on the third part) resumes there instead of repeating the first ones.

    Kept in memory: after a restart, or on another worker, the whole reply is sent again.
    """

    def __init__(self, keep: int = 1000) -> None:
        self._done: OrderedDict[tuple[Any, ...], list[str]] = OrderedDict()
        self._keep = keep

    async def send(
        self,
        outbound: OutboundMessage,
        parts: list[str],
        post: Callable[[str], Awaitable[str]],
    ) -> list[str]:
        """Post each part not yet posted, in order; the provider's ids of all of them."""
        message = outbound.message
        # The id alone is not enough: a test database (or SQLite after a delete) reuses ids.
        key = (message.id, message.created_at, len(parts))
        done = self._done.pop(key, [])
        try:
            for part in parts[len(done) :]:
                done.append(await post(part))
        except SendFailed as exc:
            if done and not exc.permanent:
                self._done[key] = done
                while len(self._done) > self._keep:
                    self._done.popitem(last=False)
            raise
        return done
