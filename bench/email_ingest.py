"""Raw email ingest: mails a second through `parse_email` alone, and through `parse_email` plus
`channels.intake.take_in` on SQLite (docs/channels/email.md).

The mix is what a support address receives: a third new mails (multipart text + HTML, a new
conversation each), the rest replies that thread by In-Reply-To/References and quote the mail
before, one in ten with a small PDF attached. `python -m bench.email_ingest --count 2000`.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from rich.console import Console

from channels.base import Parsed
from channels.email.parse import parse_email
from channels.intake import take_in
from inbox.accounts import do_create_inbox
from inbox.bus import MemoryBus
from inbox.db import Database, make_engine
from inbox.migrate import upgrade
from inbox.models import Inbox

from . import dataset
from .ingest import busiest_inbox


@dataclass
class Rate:
    count: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0


WARM_UP = 100
CONFIG = {"address": "support@acme.example", "webhook_secret": "bench"}


def mail(n: int) -> bytes:
    customer = n // 3
    message = EmailMessage()
    message["From"] = f"Customer {customer} <customer{customer}@example.org>"
    message["To"] = "support@acme.example"
    message["Message-ID"] = f"<bench-{n}@example.org>"
    text = f"Message {n}: my order {100_000 + n} has not arrived, can you check?"
    if n % 3 == 0:
        message["Subject"] = f"Order {100_000 + n}"
        message.set_content(text)
        message.add_alternative(f"<p>{text}</p><p>Thanks,<br>Customer {customer}</p>", "html")
    else:
        parent = f"<bench-{n - 1}@example.org>"
        message["Subject"] = f"Re: Order {100_000 + customer * 3}"
        message["In-Reply-To"] = parent
        message["References"] = f"<bench-{customer * 3}@example.org> {parent}"
        quoted = "\n".join(f"> line {i} of the earlier mail" for i in range(20))
        message.set_content(f"{text}\n\nOn Mon, 16 Nov 2026, Acme wrote:\n{quoted}\n")
    if n % 10 == 0:
        message.add_attachment(
            b"%PDF-1.4\n" + b"0" * 20_000, maintype="application", subtype="pdf",
            filename=f"receipt-{n}.pdf",
        )  # fmt: skip
    return message.as_bytes()


def parse_rate(mails: list[bytes]) -> Rate:
    start = time.perf_counter()
    for raw in mails:
        parse_email(raw, 1)
    return Rate(len(mails), time.perf_counter() - start)


@dataclass
class _Target:
    db: Database
    inbox_id: int
    seconds: float = 0.0
    done: int = 0


def _open(tmp: Path, name: str, prefilled: Path | None) -> _Target:
    path = tmp / f"{name}.db"
    if prefilled is not None:
        shutil.copyfile(prefilled, path)
    db = Database(make_engine(f"sqlite:///{path}"), MemoryBus())
    if prefilled is None:
        upgrade(db.engine)
        with db.session() as session:
            inbox = do_create_inbox(
                session=session, name="Acme Support", channel="email", config=CONFIG
            )
            session.commit()
            assert inbox.id is not None
            return _Target(db, inbox.id)
    # The busiest inbox of the 100,000 conversations becomes the support address: every
    # lookup (threading, duplicates, the contact's latest conversation) runs among them.
    inbox_id = busiest_inbox(db)
    with db.session() as session:
        support = session.get(Inbox, inbox_id)
        assert support is not None
        support.channel, support.config = "email", dict(CONFIG)
        session.add(support)
        session.commit()
    return _Target(db, inbox_id)


def ingest_rates(
    mails: list[bytes], max_seconds: float, prefilled: Path | None = None, block: int = 250
) -> list[Rate]:
    """Mails a second, parsed and stored through `take_in` (one commit each): into an empty
    database and, with `prefilled` (a dataset.py file), into a copy of it. The two take
    turns, `block` mails at a time, so a shared machine's load falls on both alike."""
    with tempfile.TemporaryDirectory(prefix="handoff-bench-") as tmp:
        targets = [_open(Path(tmp), "empty", None)]
        if prefilled is not None:
            targets.append(_open(Path(tmp), "prefilled", prefilled))
        # Untimed warm-up on each: statement caches, the policy, the first pages read.
        for target in targets:
            for n in range(WARM_UP):
                raw = mail(1_000_000 + n)
                take_in(
                    target.db, target.inbox_id, Parsed(messages=[parse_email(raw, target.inbox_id)])
                )
        count = len(mails)
        while any(t.done < count and t.seconds < max_seconds for t in targets):
            for target in targets:
                if target.done >= count or target.seconds >= max_seconds:
                    continue
                start = time.perf_counter()
                for raw in mails[target.done : target.done + block]:
                    parsed = Parsed(messages=[parse_email(raw, target.inbox_id)])
                    take_in(target.db, target.inbox_id, parsed)
                    target.done += 1
                target.seconds += time.perf_counter() - start
        for target in targets:
            target.db.engine.dispose()
    return [Rate(t.done, t.seconds) for t in targets]


def ingest_rate(mails: list[bytes]) -> Rate:
    return ingest_rates(mails, max_seconds=120)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument(
        "--prefilled", type=int, default=0, help="also into a database of this many conversations"
    )
    args = parser.parse_args()
    mails = [mail(n) for n in range(args.count)]
    size = sum(len(raw) for raw in mails) / len(mails)
    parsed = parse_rate(mails)
    prefilled = dataset.sqlite_dataset(args.prefilled, Console()) if args.prefilled else None
    rates = ingest_rates(mails, max_seconds=120, prefilled=prefilled)
    print(f"{args.count:,} mails, {size / 1024:.1f} KiB on average")
    print(f"parse only:        {parsed.per_second:8,.0f} mails/s")
    print(f"parse + take_in:   {rates[0].per_second:8,.0f} mails/s (SQLite, one commit per mail)")
    if len(rates) > 1:
        print(f"  with {args.prefilled:,} conversations: {rates[1].per_second:,.0f} mails/s")


if __name__ == "__main__":
    main()
