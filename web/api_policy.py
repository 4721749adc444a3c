"""`GET/PUT /api/v1/policy`: the escalation policy as JSON or YAML (docs/api.md,
docs/concepts/escalation-policy.md).

Any agent may read it (Slack and Twilio secrets blanked unless they are an admin); only admins
may replace it. A bad document is a 422 whose detail names the field.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from inbox.errors import InvalidInput
from inbox.policy import Policy
from inbox.policy_store import (
    as_data,
    current_policy,
    do_save_policy,
    parse_policy,
    policy_from_yaml,
    policy_to_yaml,
)

from .api_input import MalformedBody, api_agent, read_body, require_admin

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
YAML_MEDIA_TYPE = "application/yaml; charset=utf-8"


def is_yaml(media_type: str) -> bool:
    return any(kind in media_type.lower() for kind in YAML_TYPES)


def wants_yaml(request: Request) -> bool:
    asked = request.query_params.get("format", "").lower()
    if asked and asked not in ("json", "yaml", "yml"):
        raise InvalidInput("format must be json or yaml", {"field": "format"})
    if asked:
        return asked != "json"
    return is_yaml(request.headers.get("accept", ""))


def answer(request: Request, policy: Policy, *, secrets: bool) -> Response:
    if wants_yaml(request):
        return Response(policy_to_yaml(policy, secrets=secrets), media_type=YAML_MEDIA_TYPE)
    return JSONResponse(as_data(policy, secrets=secrets))


async def read_policy(request: Request) -> Policy:
    """The body as a policy: YAML when the Content-Type says so, JSON otherwise."""
    raw = await read_body(request)
    if is_yaml(request.headers.get("content-type", "")):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedBody("Body is not UTF-8 text") from exc
        return policy_from_yaml(text)
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise MalformedBody(
            "Body is not valid JSON; send YAML with Content-Type: application/yaml",
            {"reason": str(exc)},
        ) from exc
    return parse_policy(data)


async def get_policy(request: Request) -> Response:
    with api_agent(request) as ctx:
        return answer(request, current_policy(ctx.session), secrets=ctx.scope.is_admin)


async def put_policy(request: Request) -> Response:
    with api_agent(request) as ctx:
        require_admin(ctx, "change the escalation policy")
        policy = await read_policy(request)
        do_save_policy(session=ctx.session, policy=policy, actor=ctx.agent)
        return answer(request, current_policy(ctx.session), secrets=True)


routes: list[BaseRoute] = [
    Route("/policy", get_policy, methods=["GET"]),
    Route("/policy", put_policy, methods=["PUT"]),
]
