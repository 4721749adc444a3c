"""Where IMAP polling stopped in each folder (UIDVALIDITY and the last UID taken in)."""

from __future__ import annotations

from sqlmodel import Session, select

from .clock import utcnow
from .models import MailCursor


def read_cursor(session: Session, inbox_id: int, folder: str) -> tuple[int, int]:
    """(uidvalidity, last_uid); (0, 0) for a folder never read."""
    cursor = _get(session, inbox_id, folder)
    return (cursor.uidvalidity, cursor.last_uid) if cursor else (0, 0)


def save_cursor(
    session: Session, inbox_id: int, folder: str, uidvalidity: int, last_uid: int
) -> None:
    """Move the cursor and commit; call it after the message at last_uid is stored."""
    cursor = _get(session, inbox_id, folder) or MailCursor(inbox_id=inbox_id, folder=folder)
    cursor.uidvalidity = uidvalidity
    cursor.last_uid = last_uid
    cursor.updated_at = utcnow()
    session.add(cursor)
    session.commit()


def _get(session: Session, inbox_id: int, folder: str) -> MailCursor | None:
    return session.exec(
        select(MailCursor).where(MailCursor.inbox_id == inbox_id, MailCursor.folder == folder)
    ).first()
