"""Manager alerts (docs/concepts/sla.md#alerts): Slack, email and SMS, sent after the commit.

`alerts.py` writes the Alert rows a stage or an escalation asks for; `sender.py` sends them
through `slack.py` (slack-sdk), `email.py` (aiosmtplib) and `sms.py` (Twilio's Messages API)
and stores what came of each.
"""

from __future__ import annotations


class NotifierError(Exception):
    """A send that could not happen: not set up, or refused by the provider."""


class NotSetUp(NotifierError):
    """The policy has no credentials for this channel: every send by it fails alike until an
    admin adds them, so it is said once, not once per alert."""
