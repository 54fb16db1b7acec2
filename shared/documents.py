"""The citizen's copy of the installation act as a PDF ("Aktın bir nüsxəsi abonentə təqdim
edilir"), in Azerbaijani, with every act field, the address and the subscriber code.

The notifier attaches it to the completion e-mail and the status service serves it over
HTTP; both render it here from the same facts, and the rendering is deterministic (no
clock, no random identifiers), so the e-mail's file and the downloaded one are the same
bytes. The font is Source Sans Pro from the ``font-source-sans-pro`` package: it covers
ə ğ ı ö ş ü ç İ and is never downloaded at run time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import font_source_sans_pro

from shared.clock import baku
from shared.contracts.commands import Act

FONT = "SourceSans"
FONT_FILES = Path(font_source_sans_pro.font_directory)
TITLE = "Su sayğacının quraşdırılması aktı"


@dataclass(frozen=True)
class ActCopy:
    """What the citizen's copy shows."""

    application_number: str
    subscriber_code: str
    address: str
    act: Act

    @property
    def filename(self) -> str:
        """``akt-<act_number>.pdf``, with any character unsafe in a file name replaced."""
        safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in self.act.act_number)
        return f"akt-{safe}.pdf"


def _installed_at(act: Act) -> str:
    try:
        moment = baku(datetime.fromisoformat(act.installed_at))
    except ValueError:
        return act.installed_at
    return moment.strftime("%d.%m.%Y %H:%M")


def act_rows(copy: ActCopy) -> list[tuple[str, str]]:
    act = copy.act
    return [
        ("Akt nömrəsi", act.act_number),
        ("Müraciət nömrəsi", copy.application_number),
        ("Abonent kodu", copy.subscriber_code),
        ("Ünvan", copy.address or "—"),
        ("Sayğacın seriya nömrəsi", act.meter_serial),
        ("Sayğacın modeli", act.meter_model or "—"),
        ("İlkin göstərici, m³", act.initial_reading_m3),
        ("Plomb nömrələri", ", ".join(act.seal_numbers)),
        ("Quraşdırılma vaxtı (Bakı)", _installed_at(act)),
        ("Quraşdıran", act.installer_name),
    ]


def render_act(copy: ActCopy) -> bytes:
    """The act as PDF bytes: the same facts always give the same bytes."""
    from fpdf import FPDF  # local: fpdf (and numpy behind it) load only to draw an act

    pdf = FPDF(format="A4")
    pdf.add_font(FONT, fname=str(FONT_FILES / "SourceSansPro-Regular.ttf"))
    pdf.add_font(FONT, style="B", fname=str(FONT_FILES / "SourceSansPro-Bold.ttf"))
    # Deterministic: the date is the act's own, the file identifier derives from the facts.
    pdf.set_creation_date(_moment(copy.act.installed_at))
    pdf.file_id = lambda: _file_id(copy)  # type: ignore[method-assign]
    pdf.set_title(f"{TITLE} {copy.act.act_number}")
    pdf.set_author("Azərsu ASC")
    pdf.set_lang("az")
    pdf.set_margins(20, 20, 20)
    pdf.add_page()
    pdf.set_font(FONT, "B", 16)
    pdf.multi_cell(0, 9, TITLE, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 11)
    pdf.multi_cell(0, 6, f"№ {copy.act.act_number}", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    for label, value in act_rows(copy):
        pdf.set_font(FONT, "B", 11)
        pdf.cell(70, 8, label, border="B")
        pdf.set_font(FONT, "", 11)
        pdf.multi_cell(0, 8, value, border="B", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(10)
    pdf.set_font(FONT, "", 10)
    pdf.multi_cell(
        0,
        5,
        "Sayğac quraşdırılmış, plomblanmış və qeydiyyata alınmışdır. "
        "Aktın bir nüsxəsi abonentə təqdim edilir. "
        "Xidmətimizdən istifadə etdiyiniz üçün təşəkkür edirik.",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    return bytes(pdf.output())


def _moment(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return datetime(2000, 1, 1, tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _file_id(copy: ActCopy) -> str:
    digest = hashlib.md5(repr(act_rows(copy)).encode(), usedforsecurity=False).hexdigest()
    return f"<{digest}><{digest}>"
