"""Property-based: whatever a portal sends, intake answers a registration or coded errors.

Use-case level with the in-memory store: no broker, milliseconds per example.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.intake.domain import Account
from services.intake.usecases import Intake
from shared.contracts.commands import SubmitApplication
from shared.contracts.errors import ErrorCode
from shared.contracts.reading import MalformedMessage, decode_body, read_command
from shared.contracts.replies import ActiveMeter
from shared.delivery import Outcome
from tests.intake.fakes import MemoryIntakeStore

SUBSCRIBERS = [
    Account("1000001", "5ABCD12", "Bakı", "BAK-NAS"),
    Account("1000002", "5ABCD12", "Bakı", "BAK-NAS", (ActiveMeter(serial="WM-1"),)),
]
CODES = {code.value for code in ErrorCode}
FIELDS = [
    "submission_id",
    "applicant_fin",
    "subscriber_code",
    "reason_code",
    "phone",
    "email",
    "notes",
    "additional_meter_confirmed",
    "data_confirmed",
    "language",
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
plausible = {
    "submission_id": st.uuids().map(str),
    "applicant_fin": st.sampled_from(["5ABCD12", "5abcd12", "7QWE3RT", "", "x" * 8]),
    "subscriber_code": st.sampled_from(["1000001", "1000002", "9", " 1000001 "]),
    "reason_code": st.sampled_from(["new_installation", "relocate_meter", "bogus", ""]),
    "phone": st.sampled_from(
        ["+994501234567", "050 123 45 67", "0551234567", "12", "+1 202 555 0100"]
    ),
    "email": st.sampled_from(["a@example.az", "user.name+tag@mail.ru", "no-at", "a@b"]),
    "notes": st.text(max_size=1200),
    "additional_meter_confirmed": st.booleans(),
    "data_confirmed": st.booleans(),
    "language": st.sampled_from(["az", "en", "ru", "fr"]),
}
bodies = st.fixed_dictionaries(
    {}, optional={name: st.one_of(strategy, json_values) for name, strategy in plausible.items()}
) | st.dictionaries(st.sampled_from([*FIELDS, "extra", "channel"]), json_values, max_size=12)


def intake() -> tuple[Intake, MemoryIntakeStore]:
    store = MemoryIntakeStore(SUBSCRIBERS)
    return Intake(store, {"guest": "e-gov"}), store


def submit(use_cases: Intake, raw: bytes) -> Outcome:
    """What the runtime does with a submission's body: decode, read, hand to the use case."""
    parsed = read_command(SubmitApplication, decode_body(raw))

    async def settle() -> Outcome:
        outcome = await use_cases.submit(parsed, "guest", str(uuid.uuid4()))
        if outcome.then is not None:  # run before the acknowledgement
            await outcome.then()
        return outcome

    return asyncio.run(settle())


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies)
def test_any_object_yields_a_registration_a_confirmation_or_coded_errors(
    body: dict[str, Any],
) -> None:
    use_cases, store = intake()
    outcome = submit(use_cases, json.dumps(body).encode())
    reply = outcome.reply
    data = reply if isinstance(reply, dict) else reply.model_dump(mode="json")  # type: ignore[union-attr]
    assert data["outcome"] in {"registered", "refused", "confirmation_required"}
    if data["outcome"] == "refused":
        assert data["errors"], "a refusal names at least one broken rule"
        for error in data["errors"]:
            assert error["code"] in CODES
            assert error["message"]
            assert error["field"]
        assert store.published == []
    elif data["outcome"] == "registered":
        assert data["application_number"].startswith("SQ-")
        [event] = store.published
        assert event.contact.phone.startswith("+994")
    else:
        assert store.published == []


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_bytes_are_either_read_or_called_malformed(raw: bytes) -> None:
    use_cases, _ = intake()
    try:
        outcome = submit(use_cases, raw)
    except MalformedMessage as exc:
        assert str(exc)
    else:
        assert outcome.reply is not None
