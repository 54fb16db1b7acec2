"""A job as a stored document, the update that makes a stored job another, and back."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from services.notifier.domain.jobs import Job, State
from services.notifier.domain.steps import Channel

OPTIONAL = ("next_attempt_at", "last_error", "finished_at", "error", "receipt")


def millis(text: str) -> int:
    """A ``shared.clock.stamp`` as epoch milliseconds (what ``due_at`` holds)."""
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def document_of(job: Job) -> dict[str, Any]:
    """The job as stored; the fields of a job's later states follow the ones it starts with."""
    document: dict[str, Any] = {
        "_id": job.id,
        "application_number": job.application_number,
        "event": job.event,
        "sequence": job.sequence,
        "channel": job.channel,
        "correlation_id": job.correlation_id,
        "details": dict(job.details),
        "state": job.state,
        "attempts": job.attempts,
    }
    if job.next_attempt_at is not None:
        document["next_attempt_at"] = job.next_attempt_at
        document["due_at"] = millis(job.next_attempt_at)
    document.update(created_at=job.created_at, updated_at=job.updated_at, version=job.version)
    for name in OPTIONAL[1:]:
        value = getattr(job, name)
        if value is not None:
            document[name] = value
    return document


def changes(job: Job) -> dict[str, dict[str, Any]]:
    """The update that makes a stored job ``job``, leaving fields of others (``followers``)."""
    fields = document_of(job)
    del fields["_id"]
    update: dict[str, dict[str, Any]] = {"$set": fields}
    absent = [name for name in (*OPTIONAL, "due_at") if name not in fields]
    if job.state != "sending":  # a claim (the store's ``sender`` and ``claim``) ends with it
        absent += ["sender", "claim"]
    if absent:  # MongoDB before 5.0 refuses an empty $unset
        update["$unset"] = dict.fromkeys(absent, "")
    return update


def job_of(document: dict[str, Any]) -> Job:
    return Job(
        id=str(document["_id"]),
        application_number=str(document["application_number"]),
        event=str(document["event"]),
        sequence=int(document["sequence"]),
        channel=cast(Channel, document["channel"]),
        correlation_id=document.get("correlation_id"),
        details={str(key): str(value) for key, value in (document.get("details") or {}).items()},
        state=cast(State, document["state"]),
        attempts=int(document.get("attempts", 0)),
        next_attempt_at=document.get("next_attempt_at"),
        created_at=str(document["created_at"]),
        updated_at=str(document["updated_at"]),
        version=int(document["version"]),
        **{name: document.get(name) for name in OPTIONAL[1:]},
    )
