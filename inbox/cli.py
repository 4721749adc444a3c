"""The `handoff` command (CONTRACT.md): serve, migrate, seed-demo, create-user, create-token,
revoke-tokens, sign-out, import-policy and export-policy (docs/concepts/escalation-policy.md)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from sqlmodel import Session, select

from .accounts import do_create_agent, do_create_token, do_end_sessions, do_revoke_tokens
from .bus import MemoryBus
from .clock import utcnow
from .db import Database, make_engine
from .errors import HandoffError, InvalidInput
from .migrate import upgrade
from .models import Agent
from .settings import Settings

console = Console(stderr=True)


def database(settings: Settings) -> Database:
    return Database(make_engine(settings.database_url), MemoryBus())


def cmd_migrate(settings: Settings, _: argparse.Namespace) -> None:
    with console.status("Migrating the database…"):
        upgrade(database(settings).engine)
    console.print(f"[green]Database is up to date[/] ({settings.database_url})")


def cmd_seed_demo(settings: Settings, args: argparse.Namespace) -> None:
    from .seed import DEMO_LOGINS, DEMO_MAIL_ADDRESS, seed_demo

    db = database(settings)
    if args.if_empty and not settings.demo:
        console.print("HANDOFF_DEMO is off; demo not seeded.")
        return
    with db.session() as session:
        if args.if_empty and session.exec(select(Agent)).first() is not None:
            console.print("Database already has data; demo not seeded.")
            return
        seed_demo(session, console=console)
    console.print("[bold]Demo logins[/] (password for all: [bold]handoff-demo[/]):")
    for email, role in DEMO_LOGINS:
        console.print(f"  {role:8} {email}")
    if settings.smtp_port:
        console.print(
            f"Mail to [bold]{DEMO_MAIL_ADDRESS}[/] on {settings.host}:{settings.smtp_port} "
            "lands in the Support mail inbox."
        )


def cmd_create_user(settings: Settings, args: argparse.Namespace) -> None:
    with database(settings).session() as session:
        agent = do_create_agent(
            session=session,
            email=args.email,
            name=args.name,
            role=args.role,
            password=args.password,
        )
        session.commit()
    console.print(f"Created {agent.role} {agent.email} (id {agent.id})")


def _agent_by_email(session: Session, email: str) -> Agent:
    agent = session.exec(select(Agent).where(Agent.email == email.lower())).first()
    if agent is None:
        raise HandoffError(f"no agent with email {email}")
    return agent


def _positive_int(raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise argparse.ArgumentTypeError("a whole number of days, at least 1")
    return int(raw)


def cmd_create_token(settings: Settings, args: argparse.Namespace) -> None:
    with database(settings).session() as session:
        agent = _agent_by_email(session, args.email)
        days = args.expires_days
        expires_at = utcnow() + timedelta(days=days) if days else None
        token = do_create_token(session=session, agent=agent, label="cli", expires_at=expires_at)
        session.commit()
    print(token)


def cmd_revoke_tokens(settings: Settings, args: argparse.Namespace) -> None:
    with database(settings).session() as session:
        agent = _agent_by_email(session, args.email)
        count = do_revoke_tokens(session=session, agent=agent)
        session.commit()
    console.print(f"Revoked {count} API token{'s' if count != 1 else ''} of {agent.email}")


def cmd_sign_out(settings: Settings, args: argparse.Namespace) -> None:
    with database(settings).session() as session:
        agent = _agent_by_email(session, args.email)
        do_end_sessions(session=session, agent=agent)
        session.commit()
    console.print(f"Every browser session of {agent.email} is ended; they sign in again")


def cmd_export_policy(settings: Settings, _: argparse.Namespace) -> None:
    from .policy_store import current_policy, policy_to_yaml

    with database(settings).session() as session:
        text = policy_to_yaml(current_policy(session))
    # Plain print, not rich: the YAML goes to stdout byte for byte, to be redirected to a file.
    print(text, end="")


def cmd_import_policy(settings: Settings, args: argparse.Namespace) -> None:
    from .policy_store import do_save_policy, policy_from_yaml

    path = Path(args.file)
    try:
        text = sys.stdin.read() if args.file == "-" else path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise HandoffError(f"cannot read {args.file}: {exc}") from exc
    try:
        policy = policy_from_yaml(text)
        with database(settings).session() as session:
            document = do_save_policy(session=session, policy=policy, actor=None)
    except InvalidInput as exc:
        problems = exc.detail.get("errors") if isinstance(exc.detail, dict) else None
        lines = [f"  {p['field']}: {p['message']}" for p in problems or []] or [f"  {exc.message}"]
        raise HandoffError(
            f"{args.file} is not a valid policy; nothing was changed.\n" + "\n".join(lines)
        ) from exc
    console.print(
        f"[green]Policy saved and in force[/] (document {document.id}): "
        f"{len(policy.tiers)} tiers, "
        f"{len(policy.sla)} SLA policies, {len(policy.ladder)} ladder stages"
    )


def cmd_serve(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    from main import create_app

    workers = max(1, int(args.workers))
    if workers > 1 and not settings.redis_url:
        console.print(
            "[red]Several workers need REDIS_URL[/]: without it each process would tell only "
            "its own browsers about changes."
        )
        raise SystemExit(2)
    console.print(
        f"Handoff on [bold]http://{settings.host}:{settings.port}[/]"
        + (f" ({workers} workers sharing events through Redis)" if workers > 1 else "")
    )
    uvicorn.run(
        # Each worker process builds its own app from the same environment.
        "main:create_app" if workers > 1 else create_app(settings),
        factory=workers > 1,
        workers=workers,
        host=settings.host,
        port=settings.port,
        log_level="info",
        ws_ping_interval=20,
        # Compressing each small frame once per socket costs more CPU than it saves.
        ws_per_message_deflate=False,
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="handoff", description="Handoff shared inbox")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the web app")
    serve.add_argument(
        "--workers", type=int, default=1, help="worker processes (more than one needs REDIS_URL)"
    )
    serve.set_defaults(run=cmd_serve)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(run=cmd_migrate)
    seed = sub.add_parser("seed-demo", help="fill the database with a demo company")
    seed.add_argument("--if-empty", action="store_true", help="only when there are no agents yet")
    seed.set_defaults(run=cmd_seed_demo)
    user = sub.add_parser("create-user", help="create an agent, manager or admin")
    user.add_argument("--email", required=True)
    user.add_argument("--name", required=True)
    user.add_argument("--role", choices=["admin", "manager", "agent"], default="agent")
    user.add_argument("--password", required=True)
    user.set_defaults(run=cmd_create_user)
    token = sub.add_parser("create-token", help="print a new API token for an agent")
    token.add_argument("--email", required=True)
    token.add_argument(
        "--expires-days",
        type=_positive_int,
        help="the token stops working after this many days (default: until revoked)",
    )
    token.set_defaults(run=cmd_create_token)
    revoke = sub.add_parser("revoke-tokens", help="delete every API token of an agent")
    revoke.add_argument("--email", required=True)
    revoke.set_defaults(run=cmd_revoke_tokens)
    sign_out = sub.add_parser("sign-out", help="end every browser session of an agent")
    sign_out.add_argument("--email", required=True)
    sign_out.set_defaults(run=cmd_sign_out)
    export = sub.add_parser("export-policy", help="print the escalation policy as YAML")
    export.set_defaults(run=cmd_export_policy)
    imported = sub.add_parser("import-policy", help="check a YAML policy file and put it in force")
    imported.add_argument("file", help="the YAML file (- for standard input)")
    imported.set_defaults(run=cmd_import_policy)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.run(Settings(), args)
    except HandoffError as exc:
        # Escaped: messages quote what the user wrote, and `[x]` would read as rich markup.
        console.print(f"[red]error:[/] {escape(exc.message)}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
