"""The JSON API at /api/v1 (CONTRACT.md), bearer-token authenticated."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
