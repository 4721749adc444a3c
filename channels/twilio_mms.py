"""What an MMS may carry and how a reply's files are packed into MMS (docs/channels/twilio.md).

Twilio fetches each `MediaUrl` itself, from its own cloud: the links are Handoff's signed,
expiring ones (channels/media_links.py), and they must be reachable from outside. Every check
here runs before anything is sent, so a refused file never leaves half a reply.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from inbox.links import public_link

from .base import SendFailed, file_type
from .long_text import split_text

# Twilio refuses a Body longer than this; it splits into SMS segments itself below it.
MAX_BODY = 1600
# An MMS carries at most ten files (Twilio error 21623 past that).
MAX_MEDIA = 10
# Twilio refuses an MMS whose media and Body together pass 5 MB ("Accepted content types for
# media"). Which megabyte it does not say, so the smaller; a full Body (1,600 characters, at
# most 6,400 bytes in UTF-8) is kept out of it, so a file that fits rides with any text.
MAX_MMS_BYTES = 5_000_000 - 4 * MAX_BODY
# What Twilio's API accepts as MMS media, from the same page: the images it resizes for the
# handset (jpeg, gif, png) and the types it passes on as they are. Parameters aside
# ("audio/ogg; codecs=opus" is audio/ogg).
MMS_TYPES = frozenset(
    {
        *("image/jpeg", "image/jpg", "image/gif", "image/png", "image/bmp", "image/tiff"),
        *("image/heic", "image/heif"),
        *("audio/basic", "audio/l24", "audio/mp4", "audio/mpeg", "audio/ogg", "audio/vorbis"),
        *("audio/vnd.rn-realaudio", "audio/vnd.wave", "audio/3gpp", "audio/3gpp2", "audio/ac3"),
        *("audio/webm", "audio/amr-nb", "audio/amr", "audio/aac"),
        *("video/mpeg", "video/mpeg4", "video/mp4", "video/quicktime", "video/webm"),
        *("video/3gpp", "video/3gpp2", "video/3gpp-tt", "video/h261", "video/h263"),
        *("video/h263-1998", "video/h263-2000", "video/h264"),
        *("text/vcard", "text/x-vcard", "text/csv", "text/rtf", "text/richtext"),
        *("text/calendar", "text/directory"),
        *("application/pdf", "application/vcard", "application/vnd.apple.pkpass"),
        *("application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint"),
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    }
)


@dataclass(frozen=True)
class Sms:
    """One message of a reply: a part of its text, the files riding on it, or both."""

    body: str
    files: list[dict[str, Any]] = field(default_factory=list)


def mms_messages(text: str, files: list[dict[str, Any]]) -> dict[str, Sms]:
    """The messages a reply takes, in order, each named for send_parts: the text's parts,
    the files riding on the last one (alone when there is no text), and as many more
    messages as the files need beyond MAX_MEDIA or MAX_MMS_BYTES."""
    messages: dict[str, Sms] = {}
    parts = split_text(text, MAX_BODY)
    for number, part in enumerate(parts, 1):
        messages[f"text {number}"] = Sms(part)
    first = 1
    for group in _media_groups(files):
        named = f"file {first}" if len(group) == 1 else f"files {first}-{first + len(group) - 1}"
        if first == 1 and parts:
            last = f"text {len(parts)}"
            messages[f"{last} + {named}"] = Sms(messages.pop(last).body, group)
        else:
            messages[named] = Sms("", group)
        first += len(group)
    return messages


def _media_groups(files: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The files in order, cut into messages of at most MAX_MEDIA files and MAX_MMS_BYTES."""
    groups: list[list[dict[str, Any]]] = []
    total = 0
    for file in files:
        size = len(file["data"])
        if not groups or len(groups[-1]) == MAX_MEDIA or total + size > MAX_MMS_BYTES:
            groups.append([])
            total = 0
        groups[-1].append(file)
        total += size
    return groups


def check_mms_file(file: dict[str, Any]) -> None:
    """A permanent SendFailed, naming the file, for one Twilio would refuse."""
    name = file["filename"]
    mime = file_type(file)
    if mime not in MMS_TYPES:
        raise SendFailed(
            f"Twilio does not send {mime} files by MMS ({name}): send a JPEG, PNG or GIF "
            "image, a PDF, an Office document, audio or video instead",
            permanent=True,
        )
    size = len(file["data"])
    if size > MAX_MMS_BYTES:
        raise SendFailed(
            f"Twilio takes at most 5 MB of media in an MMS; {name} is {size / 1e6:.1f} MB",
            permanent=True,
        )
    if not isinstance(file.get("id"), int):
        # The link names the stored attachment; channels/dispatch.py's load_outbound gives it.
        raise SendFailed(f"{name} has no attachment id to link to", permanent=True)


def check_reachable(api_base: str) -> None:
    """A permanent SendFailed when Twilio could not fetch Handoff's media links.

    Twilio fetches each MediaUrl from its own cloud, which cannot reach an address local to
    this machine or network (127.0.0.1, the default without HANDOFF_PUBLIC_URL; localhost;
    10.x, 192.168.x; 0.0.0.0). A Twilio stand-in at a local api_base (the tests', a local
    mock) fetches from beside Handoff, so a local link is refused only when api_base is not
    local itself.
    """
    base = public_link("")
    if _is_local(base) and not _is_local(api_base):
        raise SendFailed(
            f"Twilio cannot fetch files from {base}: set HANDOFF_PUBLIC_URL to the address "
            "at which Twilio reaches Handoff",
            permanent=True,
        )


def _is_local(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return not ipaddress.ip_address(host).is_global
    except ValueError:  # a name: whoever resolves it, Twilio may too
        return False
