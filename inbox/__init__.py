"""Handoff's domain: conversations, messages, teams, access and events. Knows nothing of HTTP."""
