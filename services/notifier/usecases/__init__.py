"""The notifier's use cases: record the e-mail and SMS jobs of a step; deliver due jobs.

Recording is what the consumer does (then it acknowledges); delivering is what the
background sender (``background.py``) does each round: claim several due jobs at once
(version-guarded writes, so two senders never both send one), send each, and store the
outcome together with its ``notification.delivered`` / ``notification.failed`` event.

Exactly once: once a message has been handed to a provider, its outcome is stored before
the attempt ends, retried in place with capped backoff while the store fails; the job's
lease outlasts that, so no other sender takes it back. A message is sent again only when
its sender dies between the hand-off and the store; its stable Message-ID / SMS
``reference`` lets the receiver recognise the repeat.
"""

from services.notifier.usecases.notifier import Batch, Claimed, Notifier

__all__ = ["Batch", "Claimed", "Notifier"]
