"""Settings from environment variables (docs/configuration.md)."""

from __future__ import annotations

from limits import parse_many
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting is optional; CONTRACT.md lists the names."""

    model_config = SettingsConfigDict(env_prefix="HANDOFF_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str = Field(
        default="sqlite:///./handoff.db",
        validation_alias="DATABASE_URL",
    )
    redis_url: str | None = Field(default=None, validation_alias="REDIS_URL")
    # Pub/sub channels ignore Redis's database number: two installations sharing one Redis
    # server need different namespaces.
    redis_namespace: str = "handoff"
    secret_key: str = "dev-only-secret-change-me"
    smtp_port: int = 2525
    # Where providers reach this server (https://help.example.com), when a proxy stands in
    # front: Twilio signs the URL it called, and links in alerts and emails use it.
    public_url: str | None = None
    demo: bool = True
    # Origins allowed to open the agents' websocket besides the page's own host.
    allowed_origins: list[str] = []
    # Bound on events kept for reconnecting browsers to replay.
    replay_buffer: int = 10_000
    # Per-connection queue; a browser that falls this far behind is told to resync.
    connection_backlog: int = 500
    heartbeat_seconds: float = 25.0
    login_rate_limit: str = "10/minute"
    widget_rate_limit: str = "20/minute"
    secure_cookies: bool = False

    @field_validator("login_rate_limit", "widget_rate_limit")
    @classmethod
    def _rate_limit_parses(cls, value: str) -> str:
        """Refuse a bad rule at start-up rather than on the first sign-in."""
        try:
            rules = parse_many(value)
        except ValueError as exc:
            raise ValueError(f"not a rate limit like '10/minute': {value!r}") from exc
        if len(rules) != 1:
            raise ValueError(f"give exactly one rate limit rule, like '10/minute': {value!r}")
        return value
