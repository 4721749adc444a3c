"""The email channel (docs/channels/email.md): raw-message webhook, SMTP listener, IMAP
polling in, SMTP out."""

from .adapter import EmailChannel

__all__ = ["EmailChannel"]
