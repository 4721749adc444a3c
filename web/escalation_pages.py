"""Escalating from the inbox (docs/concepts/escalation.md, docs/concepts/shortcuts.md).

The conversation's controls load its shortcut buttons (and "Accept escalation" for the
receiving team); a button GETs its brief form into the panel above the thread; the form POSTs
back and either escalates (the pane refreshes with the pinned brief) or comes back with the
message beside the missing field, status 422, having stored nothing. Admins define the
buttons under Settings → Shortcuts.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from inbox.access import can_see_conversation, get_visible_conversation
from inbox.accounts import get_or_404
from inbox.errors import Conflict, HandoffError, InvalidInput, NotFound
from inbox.escalation import can_accept, do_accept, open_escalation
from inbox.models import Conversation, Escalation, EscalationStatus, Priority, Shortcut, Team
from inbox.shortcuts_store import do_create_shortcut, do_update_shortcut, list_shortcuts
from shortcuts import forms

from . import admin
from .i18n import gettext
from .pages import thread_context
from .state import AgentContext, signed_in, state

# In the conversation pane


def _shortcut(session: Session, raw: str | None) -> Shortcut | None:
    """The active shortcut a request names, None for the generic form; 404 otherwise."""
    if not raw:
        return None
    shortcut = session.get(Shortcut, int(raw)) if raw.isdigit() else None
    if shortcut is None or not shortcut.active:
        raise NotFound("No such shortcut")
    return shortcut


def _conversation(ctx: AgentContext, request: Request) -> Conversation:
    return get_visible_conversation(ctx.session, ctx.scope, int(request.path_params["id"]))


def _pane(
    request: Request, ctx: AgentContext, conversation: Conversation, *, retarget: bool = False
) -> Response:
    """The refreshed conversation pane; "moved" when the agent no longer sees it."""
    headers = {"HX-Retarget": "#conversation", "HX-Reswap": "innerHTML"} if retarget else None
    templates = state(request).templates
    if not can_see_conversation(ctx.scope, conversation):
        return HTMLResponse(templates.get_template("_moved.html").render(), headers=headers)
    return templates.TemplateResponse(
        request,
        "inbox.html",
        thread_context(ctx, conversation),
        block_name="conversation_pane",
        headers=headers,
    )


async def escalation_bar(request: Request) -> Response:
    with signed_in(request) as ctx:
        conversation = _conversation(ctx, request)
        current = open_escalation(ctx.session, conversation)
        accept = (
            current
            if current is not None
            and current.status == EscalationStatus.open
            and can_accept(ctx.session, current, ctx.agent)
            else None
        )
        return state(request).templates.TemplateResponse(
            request,
            "escalation/bar.html",
            {
                "c": conversation,
                "shortcuts": list_shortcuts(ctx.session, active_only=True),
                "accept": accept,
            },
            block_name="escalation_bar",
        )


def _form_response(request: Request, form: forms.BriefForm, status: int = 200) -> Response:
    return state(request).templates.TemplateResponse(
        request, "escalation/form.html", {"form": form}, block_name="brief_form", status_code=status
    )


async def brief_form(request: Request) -> Response:
    with signed_in(request) as ctx:
        conversation = _conversation(ctx, request)
        shortcut = _shortcut(ctx.session, request.query_params.get("shortcut_id"))
        return _form_response(request, forms.brief_form(ctx.session, conversation, shortcut))


async def escalate(request: Request) -> Response:
    submitted = await request.form()
    values = {key: str(value) for key, value in submitted.items()}
    with signed_in(request) as ctx:
        conversation = _conversation(ctx, request)
        shortcut = _shortcut(ctx.session, values.get("shortcut_id"))
        try:
            forms.escalate(
                session=ctx.session,
                conversation=conversation,
                actor=ctx.agent,
                shortcut=shortcut,
                values=values,
            )
        except InvalidInput as exc:
            ctx.session.rollback()
            again = forms.brief_form(ctx.session, conversation, shortcut, values)
            return _form_response(request, forms.with_error(again, exc), 422)
        return _pane(request, ctx, conversation, retarget=True)


async def accept(request: Request) -> Response:
    with signed_in(request) as ctx:
        escalation = ctx.session.get(Escalation, int(request.path_params["id"]))
        if escalation is None:
            raise NotFound("No such escalation")
        conversation = get_visible_conversation(ctx.session, ctx.scope, escalation.conversation_id)
        try:
            do_accept(session=ctx.session, escalation=escalation, agent=ctx.agent)
        except Conflict:
            # Someone was quicker: the refreshed pane shows who took it.
            ctx.session.rollback()
        return _pane(request, ctx, conversation)


# Settings → Shortcuts (admins)

BRIEF_ROWS = 6
TARGET_KINDS = ("team_id", "tier_up", "skill")
# Form field -> action key: the button's own `label` field is taken, so its action is renamed.
ACTION_FIELDS = {
    "priority": "priority",
    "action_label": "label",
    "customer_template": "customer_template",
    "slack_channel": "slack_channel",
    "webhook_url": "webhook_url",
    "webhook_secret": "webhook_secret",
}


def shortcuts_context(session: Session) -> dict[str, Any]:
    teams = list(session.exec(select(Team).order_by(col(Team.tier), col(Team.name))).all())
    return {
        "shortcuts": list_shortcuts(session),
        "teams": teams,
        "teams_by_id": {t.id: t for t in teams},
        "priorities": [p.value for p in Priority],
        "values": blank_values(),
    }


SHORTCUTS = admin.Page(
    "shortcuts",
    "escalation/shortcuts.html",
    ("shortcut_panel", "shortcuts_table"),
    shortcuts_context,
)


def blank_values() -> dict[str, Any]:
    rows = [{"name": "", "label": "", "required": False} for _ in range(BRIEF_ROWS)]
    rows[0] = {"name": "problem", "label": "Problem", "required": True}
    return {"target_kind": "team_id", "tier_up": "1", "rows": rows, "active": True}


def shortcut_values(shortcut: Shortcut) -> dict[str, Any]:
    ((kind, value),) = shortcut.target.items()
    rows = [dict(f) for f in shortcut.brief_fields]
    rows += [{"name": "", "label": "", "required": False}] * max(2, BRIEF_ROWS - len(rows))
    return {
        "label": shortcut.label,
        "target_kind": kind,
        kind: str(value),
        "rows": rows,
        "active": shortcut.active,
        **{name: str(shortcut.actions.get(key, "")) for name, key in ACTION_FIELDS.items()},
    }


def parse_shortcut(form: FormData) -> dict[str, Any]:
    """The form as the store's fields; the store checks them."""
    kind = admin.text(form, "target_kind")
    if kind not in TARGET_KINDS:
        raise InvalidInput(gettext("Choose where the button escalates to"), {"field": "target"})
    raw = admin.text(form, kind)
    value: Any = raw
    if kind in ("team_id", "tier_up"):
        if not raw.isdigit():
            raise InvalidInput(gettext("Choose where the button escalates to"), {"field": kind})
        value = int(raw)
    fields = []
    for i in range(int(admin.text(form, "rows") or BRIEF_ROWS)):
        name = admin.text(form, f"brief_name_{i}")
        if name:
            fields.append(
                {
                    "name": name,
                    "label": admin.text(form, f"brief_label_{i}") or name,
                    "required": form.get(f"brief_required_{i}") is not None,
                }
            )
    actions = {key: admin.text(form, name) for name, key in ACTION_FIELDS.items()}
    return {
        "label": admin.text(form, "label"),
        "target": {kind: value},
        "brief_fields": fields,
        "actions": {k: v for k, v in actions.items() if v},
        "active": form.get("active") is not None,
    }


def form_values(form: FormData) -> dict[str, Any]:
    count = int(admin.text(form, "rows") or BRIEF_ROWS)
    rows = [
        {
            "name": admin.text(form, f"brief_name_{i}"),
            "label": admin.text(form, f"brief_label_{i}"),
            "required": form.get(f"brief_required_{i}") is not None,
        }
        for i in range(min(count, 20))
    ]
    plain = {k: admin.text(form, k) for k in form if not k.startswith("brief_")}
    return {**plain, "rows": rows, "active": form.get("active") is not None}


def _failed(
    request: Request,
    ctx: AgentContext,
    form: FormData,
    exc: HandoffError,
    editing: Shortcut | None = None,
) -> Response:
    ctx.session.rollback()
    raw = exc.detail.get("field") if isinstance(exc.detail, dict) else None
    # actions.webhook_url -> webhook_url; brief_fields.2.name -> brief_fields
    field = str(raw).removeprefix("actions.").split(".")[0] if raw else None
    if raw == "actions.label":
        field = "action_label"
    return admin.show(
        request,
        ctx,
        SHORTCUTS,
        status=422,
        values=form_values(form),
        error=exc.message,
        error_field=field,
        editing=editing,
    )


async def shortcuts_page(request: Request) -> Response:
    with admin.admin_only(request) as ctx:
        return admin.show(request, ctx, SHORTCUTS)


async def shortcut_page(request: Request) -> Response:
    with admin.admin_only(request) as ctx:
        shortcut = get_or_404(ctx.session, Shortcut, admin.path_id(request), "shortcut")
        return admin.show(
            request, ctx, SHORTCUTS, editing=shortcut, values=shortcut_values(shortcut)
        )


async def create_shortcut(request: Request) -> Response:
    with admin.admin_only(request) as ctx:
        form = await request.form()
        try:
            fields = parse_shortcut(form)
            shortcut = do_create_shortcut(session=ctx.session, actor=ctx.agent, **fields)
        except HandoffError as exc:
            return _failed(request, ctx, form, exc)
        notice = gettext("The button “%(label)s” now shows in every conversation.")
        return admin.show(request, ctx, SHORTCUTS, notice=notice % {"label": shortcut.label})


async def update_shortcut(request: Request) -> Response:
    with admin.admin_only(request) as ctx:
        shortcut = get_or_404(ctx.session, Shortcut, admin.path_id(request), "shortcut")
        form = await request.form()
        try:
            changes = parse_shortcut(form)
            do_update_shortcut(
                session=ctx.session, shortcut=shortcut, changes=changes, actor=ctx.agent
            )
        except HandoffError as exc:
            return _failed(request, ctx, form, exc, editing=shortcut)
        notice = gettext("Saved changes to “%(label)s”.") % {"label": shortcut.label}
        return admin.show(request, ctx, SHORTCUTS, notice=notice, push_url="/settings/shortcuts")


routes = [
    Route("/conversations/{id:int}/escalation-bar", escalation_bar),
    Route("/conversations/{id:int}/escalate", brief_form),
    Route("/conversations/{id:int}/escalate", escalate, methods=["POST"]),
    Route("/escalations/{id:int}/accept", accept, methods=["POST"]),
    Route("/settings/shortcuts", admin.admin_page(shortcuts_page)),
    Route("/settings/shortcuts", create_shortcut, methods=["POST"]),
    Route("/settings/shortcuts/{id:int}", admin.admin_page(shortcut_page)),
    Route("/settings/shortcuts/{id:int}", update_shortcut, methods=["POST"]),
]
