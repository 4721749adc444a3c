"""Replies longer than a provider takes in one message: cut, sent in order, resumed.

Every provider caps a message (Telegram 4096 UTF-16 units, Messenger 2000 characters, Twilio
1600, Slack 40,000, X 10,000); a long reply goes out as several, cut at a paragraph, a line or
a space, never inside a word when it can be helped.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

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


async def send_parts(
    outbound: OutboundMessage,
    names: list[str],
    post: Callable[[str], Awaitable[str]],
) -> list[str]:
    """Post each part not yet posted, in order; the provider's ids of all of them.

    A reply that goes out as several requests (a long text cut in parts, then its files) can
    fail in the middle: a 429 on the third part. The parts that went out are handed back on
    the `SendFailed` (`parts_sent`), the outbox keeps them with the message's entry, and the
    next attempt (`outbound.parts_sent`) starts after them, in this worker or another, before
    or after a restart. Parts are matched by name, in order: a reply whose parts changed
    meanwhile starts over rather than skip a part the customer never got.
    """
    done: list[list[str]] = []
    for (name, provider_id), wanted in zip(outbound.parts_sent, names, strict=False):
        if name != wanted:
            break
        done.append([name, provider_id])
    try:
        for name in names[len(done) :]:
            done.append([name, await post(name)])
    except SendFailed as exc:
        if not done:
            exc.parts_sent = done
            raise
        raise _after(exc, done, names) from exc
    except (TimeoutError, httpx.HTTPError, OSError) as exc:
        if not done:
            raise  # the dispatcher retries an outage; nothing to remember
        # Unanswered, like an outage; but what went out before it must be remembered.
        unreachable = SendFailed(f"{type(exc).__name__}: {exc}".rstrip(": "))
        raise _after(unreachable, done, names) from exc
    return [provider_id for _, provider_id in done]


def _after(exc: SendFailed, done: list[list[str]], names: list[str]) -> SendFailed:
    # The agent who reads the error should know the customer has these parts already.
    reason = f"{exc} (after {len(done)} of {len(names)} parts went out)"
    failed = SendFailed(
        reason, permanent=exc.permanent, retry_after=exc.retry_after, status=exc.status
    )
    failed.parts_sent = done
    return failed
