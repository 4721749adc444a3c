"""Timers that act on time: snoozed conversations wake exactly when due, not on a sweep."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from .clock import utcnow
from .conversations import do_wake_snoozed, next_snooze_due
from .db import Database

log = logging.getLogger("handoff.timers")

# Upper bound on a wait, so a snooze set by another process is seen within this long.
MAX_WAIT = timedelta(seconds=5)


async def run_snooze_timer(db: Database, poke: asyncio.Event | None = None) -> None:
    """Sleep until the next snooze is due (recomputed from the database), then wake it."""
    while True:
        try:
            with db.session() as session:
                do_wake_snoozed(session=session)
                due = next_snooze_due(session)
        except Exception:
            log.exception("snooze timer failed; retrying")
            due = None
        now = utcnow()
        wait = MAX_WAIT if due is None else min(MAX_WAIT, max(timedelta(0), due - now))
        if poke is None:
            await asyncio.sleep(wait.total_seconds())
        else:
            # asyncio.timeout, not wait_for, which can swallow a cancel on 3.11 (scheduler.py).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait.total_seconds()):
                    await poke.wait()
                poke.clear()


# Jobs whose timing is coarse by nature: a customer's periodic "still on it" update (cadence
# in hours) and the 30-day escalation age alert. A minute's delay changes nothing for either.
HOUSEKEEPING_SECONDS = 60.0


async def run_housekeeping(db: Database, every: float = HOUSEKEEPING_SECONDS) -> None:
    from .customer_updates import do_periodic_updates
    from .receipts import forget_old_receipts
    from .rules import do_check_escalation_age

    while True:
        try:
            with db.session() as session:
                do_periodic_updates(session=session)
            with db.session() as session:
                do_check_escalation_age(session=session)
            with db.session() as session:
                forget_old_receipts(session)  # providers stop retrying long before a week
        except Exception:
            log.exception("housekeeping failed; retrying")
        await asyncio.sleep(every)
