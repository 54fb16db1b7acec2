"""Portal clients: submit applications and insist, as a real portal does, until registered.

Each submission has one ``submission_id`` for its whole life: an answer that is not
``registered`` (a refusal while a dependency is down, say) or no answer at all is met by
sending it again, under the same id, after a pause. Every answer is checked (its type,
its correlation id); an application answered with two different numbers was registered
twice. With ``copies`` on, every request is also published a second time, identical
(same ``message_id``), a random moment later, and the two answers are compared.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field

from faults.amqp import Answer, Link, NoAnswer
from faults.people import Applicant

SUBMIT = "intake.submit_application"


@dataclass
class Submission:
    applicant: Applicant
    submission_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    sent: int = 0
    number: str | None = None
    numbers: set[str] = field(default_factory=set)  # every number any answer gave
    answers: Counter[str] = field(default_factory=Counter)  # answers other than registered

    @property
    def body(self) -> bytes:
        return json.dumps(self.applicant.submission(self.submission_id)).encode()


@dataclass
class Portal:
    links: list[Link]
    reply_timeout: float = 10.0
    pause: float = 1.0
    copies: bool = False
    give_up_at: float = float("inf")  # loop time
    anomalies: Counter[str] = field(default_factory=Counter)
    registered: int = 0
    _first: dict[str, Answer] = field(default_factory=dict)  # correlation id -> first answer
    _by_request: dict[str, Submission] = field(default_factory=dict)
    _copies: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        for link in self.links:
            link.on_late = self._late

    async def run(self, submissions: list[Submission], concurrency: int) -> None:
        queue: asyncio.Queue[Submission] = asyncio.Queue()
        for submission in submissions:
            queue.put_nowait(submission)

        async def worker(link: Link) -> None:
            while not queue.empty():
                await self.submit(link, queue.get_nowait())

        workers = [worker(self.links[i % len(self.links)]) for i in range(concurrency)]
        await asyncio.gather(*workers)

    async def submit(self, link: Link, submission: Submission) -> None:
        loop = asyncio.get_running_loop()
        while submission.number is None and loop.time() < self.give_up_at:
            submission.sent += 1
            correlation_id = str(uuid.uuid4())
            message_id = str(uuid.uuid4())
            self._by_request[correlation_id] = submission
            message = link.message(
                submission.body,
                message_type="SubmitApplication",
                message_id=message_id,
                correlation_id=correlation_id,
            )
            if self.copies:
                self._copy_later(link, submission.body, message_id, correlation_id)
            try:
                answer = await link.request(SUBMIT, message, self.reply_timeout)
            except NoAnswer as exc:
                submission.answers[":".join(str(exc).split(":")[:2])] += 1  # what and why
                await asyncio.sleep(self.pause)
                continue
            self._record(answer, submission, first=True)
            if submission.number is None:
                await asyncio.sleep(self.pause)

    def _record(self, answer: Answer, submission: Submission, *, first: bool) -> None:
        if answer.type != "SubmitApplicationReply":
            self.anomalies[f"answer of type {answer.type!r}"] += 1
        key = answer.correlation_id or ""
        if first:
            self._first[key] = answer
        elif key in self._first and self._first[key].body != answer.body:
            earlier = self._first[key]
            self.anomalies[f"a copy answered {answer.text()} after {earlier.text()}"] += 1
        if answer.outcome == "registered" and isinstance(answer.body, dict):
            number = str(answer.body.get("application_number"))
            submission.numbers.add(number)
            if submission.number is None:
                submission.number = number
                self.registered += 1
        elif first:
            submission.answers[answer.summary()] += 1

    def _late(self, answer: Answer) -> None:
        submission = self._by_request.get(answer.correlation_id or "")
        if submission is not None:
            self._record(answer, submission, first=False)

    def _copy_later(self, link: Link, body: bytes, message_id: str, correlation_id: str) -> None:
        async def copy() -> None:
            await asyncio.sleep(random.uniform(0.1, 3.0))  # noqa: S311 - a shuffle, not a secret
            message = link.message(
                body,
                message_type="SubmitApplication",
                message_id=message_id,
                correlation_id=correlation_id,
            )
            try:
                await link.publish("meter.commands", SUBMIT, message)
            except NoAnswer:
                self.anomalies["copy not published"] += 1

        task = asyncio.create_task(copy())
        self._copies.add(task)
        task.add_done_callback(self._copies.discard)

    async def finish_copies(self) -> None:
        await asyncio.gather(*self._copies, return_exceptions=True)
