"""The widget's HTTP and websocket endpoints under /widget/."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
