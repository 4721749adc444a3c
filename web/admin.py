"""Settings pages for admins: agents, teams, inboxes (docs/concepts/settings.md)."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
