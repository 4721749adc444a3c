"""A realistic inbox of many conversations for the list and search benchmarks.

Deterministic (a seeded generator), so SQLite and PostgreSQL hold the same rows and reruns
measure the same data. Rows go in with SQLAlchemy Core bulk inserts through the models'
own tables, so values are stored exactly as the app stores them; the migration's triggers
(SQLite FTS5) and GIN indexes (PostgreSQL) index the text as it would be indexed live.

The SQLite file is cached under bench/.cache/, keyed by the row count, this generator's
version and the migration's text: changing an index rebuilds it.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine, Table, insert, text
from sqlmodel import SQLModel

import inbox.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from inbox.db import make_engine
from inbox.migrate import ROOT, upgrade
from inbox.search_index import catch_up

GENERATOR_VERSION = 3
CACHE = Path(__file__).resolve().parent / ".cache"
MIGRATIONS = ROOT / "migrations" / "versions"
ANCHOR = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
SPAN = timedelta(days=300)
CHUNK = 2_000

TEAMS = [
    ("Support L1", 1),
    ("Support L2", 2),
    ("Billing", 1),
    ("Technical", 2),
    ("Onboarding", 1),
    ("Enterprise", 3),
    ("Returns", 1),
    ("Partners", 2),
]
INBOXES = [
    ("Website chat", "webchat"),
    ("support@", "email"),
    ("Partner API", "api"),
    ("Telegram", "telegram"),
    ("WhatsApp", "whatsapp"),
    ("Slack Connect", "slack"),
]
# The agent whose scope the "agent" list measures: one team and one inbox.
SCOPED_TEAM = "Billing"
SCOPED_INBOX = "Telegram"
ADMIN_EMAIL = "bench-admin@example.com"
AGENT_EMAIL = "bench-agent@example.com"
PG_DATABASE = "handoff_bench"


def words(text: str) -> list[str]:
    return text.split()


FIRST = words(
    "Olivia Liam Emma Noah Ava Elijah Sophia Lucas Mia Mateo Amelia Levi Harper Ezra Evelyn "
    "Piotr Anna Jan Zofia Ingrid Lars Freja Mohamed Layla Omar Yuki Haruto Aiko Chen Wei Priya "
    "Arjun Fatima Diego Lucia Pablo Chiara Marco Giulia Hugo Chloe Louis Lea Kofi Ama Tunde "
    "Nia Ivan Olga Dmitri Maria"
)
LAST = words(
    "Bennett Zielinski Nakamura Okafor Rossi Muller Dubois Garcia Kowalski Johansson Silva "
    "Haddad Kim Patel Novak Horvat Fischer Moreau Costa Jensen Nowak Lindqvist Mensah Tanaka "
    "Ibrahim Schmidt Ferrari Santos Petrov Larsen"
)
PRODUCTS = words(
    "router dashboard invoice-portal mobile-app scanner thermostat speaker headset camera "
    "doorbell keyboard monitor charger backpack blender kettle treadmill printer tablet watch"
)
CITIES = words(
    "Lisbon Warsaw Nairobi Osaka Lagos Lyon Bergen Porto Krakow Accra Hamburg Seville Turin "
    "Gdansk Malmo Leeds Austin Denver Quito Lima Pune Daegu Perth Hobart"
)
FEATURES = words("reports settings billing export calendar inbox search profile")
PLANS = words("starter team business enterprise")
TEMPLATES = [
    "I was charged twice for order {order} and would like a refund.",
    "My {product} stopped working after the last update.",
    "Can you send me the invoice for my {plan} plan?",
    "I cannot log in, the password reset email never arrives.",
    "The delivery to {city} is {n} days late.",
    "How do I change the billing address on my account?",
    "The app crashes when I open the {feature} screen.",
    "Is there a discount if we switch to the {plan} plan for a year?",
    "I want to cancel my subscription before it renews.",
    "The {product} I received is damaged, the box was open.",
    "Where can I download the manual for the {product}?",
    "Thanks, that fixed it!",
    "Our team needs {n} more seats on the {plan} plan.",
    "The export to CSV is missing the {feature} column.",
    "I got error {code} while paying with my card.",
    "Please update the shipping address to {city}.",
    "Can I speak to someone about an enterprise contract?",
    "The two-factor code is not accepted on the {feature} page.",
    "My order {order} shows delivered but nothing arrived in {city}.",
    "Your website is very slow today from {city}.",
    "Hello, any news on my ticket? It has been {n} days.",
    "The {product} battery drains in {n} hours.",
    "Could you check why my refund for order {order} is still pending?",
    "We would like to add single sign-on for our {plan} account.",
    "I have been charged in the wrong currency.",
    "The {feature} page shows an empty list since this morning.",
    "Can I return the {product} and get a replacement?",
    "Please delete my account and all my data.",
]
REPLIES = [
    "Thanks for reaching out, I am looking into this now.",
    "I have issued the refund, you should see it within {n} days.",
    "Could you send a screenshot of the {feature} screen?",
    "We shipped a replacement {product} to {city} today.",
    "I reset your password; please check your inbox.",
    "The invoice is attached. Anything else I can help with?",
    "This is fixed in version {n}.2, please update the app.",
    "I have passed this to our Technical team.",
]
SYLLABLES = words("ka lo mi ze ru ta vo ni sa pe qu dor fin gal hex jun kir lum mox nev pax")


def _tail_words(count: int) -> list[str]:
    """Rare words (model numbers, names of things) that make the text varied."""
    rng = random.Random(7)
    words: set[str] = set()
    while len(words) < count:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


TAIL = _tail_words(4_000)
# The keyword searches: a word in one template in 28, one in a few, one rare, a contact name.
SEARCH_WORDS = ["refund", "invoice", "password", TAIL[1234], "Ingrid"]


@dataclass
class Fill:
    """What was stored, for the benchmarks and the report."""

    conversations: int
    messages: int = 0
    contacts: int = 0
    open_: int = 0
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def cache_path(count: int) -> Path:
    digest = hashlib.sha256(f"{count}:{GENERATOR_VERSION}".encode())
    for path in sorted(MIGRATIONS.glob("*.py")):
        digest.update(path.read_bytes())
    return CACHE / f"conversations-{count}-{digest.hexdigest()[:12]}.db"


def _table(name: str) -> Table:
    return SQLModel.metadata.tables[name]


def _sentence(rng: random.Random, templates: list[str]) -> str:
    return rng.choice(templates).format(
        order=rng.randint(10_000, 999_999),
        product=rng.choice(PRODUCTS),
        plan=rng.choice(PLANS),
        city=rng.choice(CITIES),
        n=rng.randint(2, 14),
        feature=rng.choice(FEATURES),
        code=f"E{rng.randint(1000, 9999)}",
    )


def _content(rng: random.Random, incoming: bool) -> str:
    parts = [_sentence(rng, TEMPLATES if incoming else REPLIES) for _ in range(rng.randint(1, 2))]
    if incoming and rng.random() < 0.6:
        parts.append("Ref " + " ".join(rng.choice(TAIL) for _ in range(rng.randint(1, 3))) + ".")
    return " ".join(parts)


def _status(rng: random.Random, age: timedelta) -> str:
    # Recent conversations are mostly still being worked on; old ones mostly resolved,
    # a few forgotten. This is what makes "open, newest first" a short walk in real inboxes.
    still_open = 0.55 if age < timedelta(days=14) else 0.03
    if rng.random() >= still_open:
        return "resolved"
    return rng.choices(["open", "pending", "snoozed"], weights=[70, 20, 10])[0]


def _fixed_rows() -> dict[str, list[dict[str, Any]]]:
    teams = [
        {"id": i, "name": name, "tier": tier, "skills": [], "created_at": ANCHOR - SPAN}
        for i, (name, tier) in enumerate(TEAMS, start=1)
    ]
    inboxes = [
        {"id": i, "name": name, "channel": channel, "config": {}, "created_at": ANCHOR - SPAN}
        for i, (name, channel) in enumerate(INBOXES, start=1)
    ]
    agents = [
        {
            "id": i,
            "email": email,
            "name": name,
            "role": role,
            "password_hash": "",
            "skills": [],
            "available": True,
            "capacity": 10,
            "locale": "en",
            "created_at": ANCHOR - SPAN,
        }
        for i, (email, name, role) in enumerate(
            [(ADMIN_EMAIL, "Bench Admin", "admin"), (AGENT_EMAIL, "Bench Agent", "agent")]
            + [(f"agent{n}@example.com", f"Agent {n}", "agent") for n in range(3, 41)],
            start=1,
        )
    ]
    team_id = {name: i for i, (name, _) in enumerate(TEAMS, start=1)}
    inbox_id = {name: i for i, (name, _) in enumerate(INBOXES, start=1)}
    membership = [{"agent_id": 2, "team_id": team_id[SCOPED_TEAM], "is_lead": False}] + [
        {"agent_id": a, "team_id": 1 + a % len(TEAMS), "is_lead": False} for a in range(3, 41)
    ]
    inbox_member = [{"agent_id": 2, "inbox_id": inbox_id[SCOPED_INBOX]}]
    return {
        "team": teams,
        "inbox": inboxes,
        "agent": agents,
        "membership": membership,
        "inbox_member": inbox_member,
    }


def _contact_chunks(rng: random.Random, count: int) -> Iterator[dict[str, list[dict[str, Any]]]]:
    for start in range(1, count + 1, CHUNK):
        contacts: list[dict[str, Any]] = []
        identities: list[dict[str, Any]] = []
        for cid in range(start, min(start + CHUNK, count + 1)):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            email = f"{first}.{last}.{cid}@example.com".lower()
            contacts.append(
                {
                    "id": cid,
                    "name": f"{first} {last}",
                    "email": email,
                    "phone": None,
                    "customer_tier": rng.choice(["standard", "standard", "gold", "vip"]),
                    "lifetime_value": round(rng.random() * 5000, 2),
                    "language": "en",
                    "notes": "",
                    "created_at": ANCHOR - SPAN,
                }
            )
            inbox = 1 + cid % len(INBOXES)
            identities.append(
                {"id": cid, "contact_id": cid, "inbox_id": inbox, "identifier": email}
            )
        yield {"contact": contacts, "contact_identity": identities}


def _conversation_chunks(
    rng: random.Random, count: int, contacts: int, fill: Fill
) -> Iterator[dict[str, list[dict[str, Any]]]]:
    message_id = 0
    step = SPAN / count
    for start in range(1, count + 1, CHUNK):
        conversations: list[dict[str, Any]] = []
        messages: list[dict[str, Any]] = []
        for cid in range(start, min(start + CHUNK, count + 1)):
            created = ANCHOR - SPAN + step * cid + timedelta(seconds=rng.randint(0, 60))
            team = rng.choices(range(1, len(TEAMS) + 1), weights=[30, 12, 18, 12, 8, 4, 10, 6])[0]
            team_id = None if rng.random() < 0.08 else team
            inbox = rng.choices(range(1, len(INBOXES) + 1), weights=[35, 30, 8, 10, 12, 5])[0]
            status = _status(rng, ANCHOR - created)
            fill.open_ += status != "resolved"
            at = created
            first_reply = last_customer = last_agent = None
            preview = ""
            for n in range(rng.randint(1, 5)):
                incoming = n % 2 == 0
                at += timedelta(minutes=rng.randint(1, 600))
                message_id += 1
                preview = _content(rng, incoming)
                messages.append(
                    {
                        "id": message_id,
                        "conversation_id": cid,
                        "inbox_id": inbox,
                        "kind": "incoming" if incoming else "outgoing",
                        "sender_agent_id": None if incoming else rng.randint(1, 40),
                        "content": preview,
                        "external_id": f"ext-{message_id}" if incoming else None,
                        "delivery": "received" if incoming else "delivered",
                        "error": None,
                        "attachments": [],
                        "edited": False,
                        "created_at": at,
                    }
                )
                if incoming:
                    last_customer = at
                else:
                    last_agent = at
                    first_reply = first_reply or at
            conversations.append(
                {
                    "id": cid,
                    "inbox_id": inbox,
                    "contact_id": rng.randint(1, contacts),
                    "team_id": team_id,
                    "tier": TEAMS[team - 1][1] if team_id else 1,
                    "assignee_id": None if rng.random() < 0.25 else rng.randint(2, 40),
                    "status": status,
                    "priority": rng.choices(
                        ["low", "normal", "high", "urgent"], weights=[10, 70, 15, 5]
                    )[0],
                    "subject": "",
                    "snoozed_until": at + timedelta(days=2) if status == "snoozed" else None,
                    "transfer_count": 0,
                    "reopen_count": 0,
                    "version": 1,
                    "created_at": created,
                    "first_response_at": first_reply,
                    "last_customer_message_at": last_customer,
                    "last_agent_message_at": last_agent,
                    "resolved_at": at if status == "resolved" else None,
                    "last_activity_at": at,
                    "preview": preview[:300],
                }
            )
        fill.messages += len(messages)
        yield {"conversation": conversations, "message": messages}


def populate(engine: Engine, count: int, console: Console) -> Fill:
    """Migrate `engine`'s empty database and fill it with `count` conversations."""
    upgrade(engine)
    rng = random.Random(20261122)
    contacts = max(10, count * 6 // 10)
    fill = Fill(conversations=count, contacts=contacts)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        with engine.begin() as conn:
            for name, rows in _fixed_rows().items():
                conn.execute(insert(_table(name)), rows)
        task = progress.add_task(f"contacts ({engine.dialect.name})", total=contacts)
        for chunk in _contact_chunks(rng, contacts):
            _insert(engine, chunk)
            progress.advance(task, len(chunk["contact"]))
        task = progress.add_task(f"conversations ({engine.dialect.name})", total=count)
        for chunk in _conversation_chunks(rng, count, contacts, fill):
            _insert(engine, chunk)
            progress.advance(task, len(chunk["conversation"]))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # Rows came with explicit ids: move the sequences past them.
            for name in ("team", "inbox", "agent", "contact", "contact_identity", "conversation"):
                conn.execute(text(f"SELECT setval('{name}_id_seq', (SELECT max(id) FROM {name}))"))
            conn.execute(text("SELECT setval('message_id_seq', (SELECT max(id) FROM message))"))
    catch_up(engine)  # SQLite: the search index, as the app's thread would have kept it
    return fill


def _insert(engine: Engine, chunk: dict[str, list[dict[str, Any]]]) -> None:
    with engine.begin() as conn:
        for name, rows in chunk.items():
            conn.execute(insert(_table(name)), rows)


def sqlite_dataset(count: int, console: Console) -> Path:
    """The cached SQLite file with `count` conversations, built on first use."""
    path = cache_path(count)
    if path.exists():
        console.print(f"[dim]using cached dataset {path.relative_to(ROOT)}[/]")
        # Built before the newest migration, it is brought up to it (a no-op otherwise).
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        engine.dispose()
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    # Keeps the cache (hundreds of megabytes) out of git whatever the root .gitignore says.
    (CACHE / ".gitignore").write_text("*\n")
    for stale in CACHE.glob(f"conversations-{count}-*.db*"):
        stale.unlink()
    building = path.with_suffix(".building")
    for leftover in CACHE.glob(building.name + "*"):
        leftover.unlink()
    engine = make_engine(f"sqlite:///{building}")
    fill = populate(engine, count, console)
    with engine.begin() as conn:
        # Fold the WAL back into the file so the cache is one self-contained file.
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    engine.dispose()
    building.rename(path)
    for leftover in CACHE.glob(building.name + "-*"):
        leftover.unlink()
    console.print(
        f"[dim]built {path.relative_to(ROOT)}: {fill.conversations:,} conversations "
        f"({fill.open_:,} not resolved), {fill.messages:,} messages, {fill.contacts:,} contacts[/]"
    )
    return path


def postgres_dataset(count: int, server: str, console: Console) -> str:
    """A database on `server` holding the same rows (`handoff_bench` for 100,000), built once.

    The cache key is kept as the database's comment, so a changed migration rebuilds it.
    """
    from sqlalchemy import create_engine

    key = cache_path(count).stem
    name = PG_DATABASE if count == 100_000 else f"{PG_DATABASE}_{count}"
    admin = create_engine(f"postgresql+psycopg://{server}/postgres", isolation_level="AUTOCOMMIT")
    url = f"postgresql+psycopg://{server}/{name}"
    try:
        with admin.connect() as conn:
            comment = conn.execute(
                text(
                    "SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                    "WHERE datname = :name"
                ),
                {"name": name},
            ).scalar()
            if comment == key:
                console.print(f"[dim]using cached PostgreSQL database {name}[/]")
                return url
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {name}"))
        engine = make_engine(url)
        fill = populate(engine, count, console)
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f"COMMENT ON DATABASE {name} IS '{key}'"))
        console.print(
            f"[dim]built PostgreSQL {name}: {fill.conversations:,} conversations, "
            f"{fill.messages:,} messages[/]"
        )
        return url
    finally:
        admin.dispose()
