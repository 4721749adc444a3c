"""Raw email ingest: mails a second through `parse_email` alone, and through `parse_email` plus
`channels.intake.take_in` on SQLite (docs/channels/email.md).

The mix is what a support address receives: a third new mails (multipart text + HTML, a new
conversation each), the rest replies that thread by In-Reply-To/References and quote the mail
before, one in ten with a small PDF attached. `python -m bench.email_ingest --count 2000`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from channels.base import Parsed
from channels.email.parse import parse_email
from channels.intake import take_in
from inbox.accounts import do_create_inbox
from inbox.bus import MemoryBus
from inbox.db import Database, make_engine
from inbox.migrate import upgrade


@dataclass
class Rate:
    count: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0


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


def ingest_rate(mails: list[bytes]) -> Rate:
    with tempfile.TemporaryDirectory(prefix="handoff-bench-") as tmp:
        db = Database(make_engine(f"sqlite:///{Path(tmp) / 'email.db'}"), MemoryBus())
        upgrade(db.engine)
        with db.session() as session:
            inbox = do_create_inbox(
                session=session,
                name="Acme Support",
                channel="email",
                config={"address": "support@acme.example"},
            )
            session.commit()
            assert inbox.id is not None
            inbox_id = inbox.id
        start = time.perf_counter()
        for raw in mails:
            take_in(db, inbox_id, Parsed(messages=[parse_email(raw, inbox_id)]))
        seconds = time.perf_counter() - start
        db.engine.dispose()
    return Rate(len(mails), seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()
    mails = [mail(n) for n in range(args.count)]
    size = sum(len(raw) for raw in mails) / len(mails)
    parsed = parse_rate(mails)
    stored = ingest_rate(mails)
    print(f"{args.count:,} mails, {size / 1024:.1f} KiB on average")
    print(f"parse only:        {parsed.per_second:8,.0f} mails/s")
    print(f"parse + take_in:   {stored.per_second:8,.0f} mails/s (SQLite, one commit per mail)")


if __name__ == "__main__":
    main()
