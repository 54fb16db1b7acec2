"""The subscriber directory's CSV rows (``meterctl subscribers import``): pure parsing."""

from __future__ import annotations

import re
from datetime import date

from services.intake.domain import Account
from shared.contracts.replies import ActiveMeter

SUBSCRIBER_COLUMNS = (
    "subscriber_code",
    "applicant_fin",
    "address",
    "district_code",
    "active_meter_serials",
)
_FIN = re.compile(r"^[0-9A-Z]{7}$")
_CODE = re.compile(r"^[0-9A-Za-z-]{1,32}$")


class BadRow(ValueError):
    """What is wrong with one row."""


def subscriber_row(values: dict[str, str]) -> Account:
    """One directory document from a CSV row; serials may carry ``@YYYY-MM-DD``."""
    problems: list[str] = []
    code = values["subscriber_code"]
    if not _CODE.match(code):
        problems.append(f"subscriber_code {code!r} must be 1-32 letters, digits or '-'")
    fin = values["applicant_fin"].upper()
    if not _FIN.match(fin):
        problems.append(f"applicant_fin {values['applicant_fin']!r} must be 7 letters or digits")
    if not values["address"]:
        problems.append("address is empty")
    if not values["district_code"]:
        problems.append("district_code is empty")
    meters: list[ActiveMeter] = []
    for item in filter(None, (part.strip() for part in values["active_meter_serials"].split(";"))):
        serial, _, installed_on = item.partition("@")
        if installed_on:
            try:
                installed_on = date.fromisoformat(installed_on).isoformat()
            except ValueError:
                problems.append(f"meter {item!r}: installation date must be YYYY-MM-DD")
        meters.append(ActiveMeter(serial=serial.strip(), installed_on=installed_on or None))
    if problems:
        raise BadRow("; ".join(problems))
    return Account(
        subscriber_code=code,
        applicant_fin=fin,
        address=values["address"],
        district_code=values["district_code"],
        active_meters=tuple(meters),
    )
