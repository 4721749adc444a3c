"""Escalation shortcut buttons (docs/concepts/shortcuts.md): a button press, in the web UI or
from Slack, becomes a brief form, and the filled form becomes one `do_escalate` call.

The buttons themselves are stored and checked in inbox/shortcuts_store.py; the outgoing
webhooks a shortcut may call are sent by shortcuts/webhooks.py after the commit.
"""
