"""The website chat widget channel (docs/channels/webchat.md)."""
