"""Settings from environment variables (docs/configuration.md)."""

from __future__ import annotations

from pydantic import Field
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
    secret_key: str = "dev-only-secret-change-me"
    smtp_port: int = 2525
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
