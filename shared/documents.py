"""The citizen's copy of the installation act as a PDF ("Aktın bir nüsxəsi abonentə təqdim
edilir"), in Azerbaijani, with every act field, the address and the subscriber code.

The notifier attaches it to the completion e-mail and the status service serves it over
HTTP; both render it here from the same facts, and the rendering is deterministic (no
clock, no random identifiers), so the e-mail's file and the downloaded one are the same
bytes. The font is Source Sans Pro from the ``font-source-sans-pro`` package: it covers
ə ğ ı ö ş ü ç İ and is never downloaded at run time.

Reading a font costs more than drawing the act, so each process reads each face once,
as it starts (``prepare``, ``_Face``): every document gets a copy of its metrics, a fresh
descriptor and subset map, and its own font to subset, opened from bytes kept in memory
without the tables the subsetter drops anyway (the layout tables it would otherwise
decompile only to drop). The subsets of recent glyph sets are kept too: the file embeds
the same font either way.
"""

from __future__ import annotations

import asyncio
import copy as copying
import hashlib
import io
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import font_source_sans_pro
import structlog

from shared.clock import baku
from shared.contracts.commands import Act

if TYPE_CHECKING:
    from fpdf import FPDF
    from fpdf.fonts import TTFFont

FONT = "SourceSans"
FONT_FILES = Path(font_source_sans_pro.font_directory)
TITLE = "Su sayğacının quraşdırılması aktı"
DRAWN_KEPT = 32  # acts kept drawn (about 20 kB each)


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
    """The act as PDF bytes: the same facts always give the same bytes. The acts drawn
    last are kept: an e-mail sent again, or a copy downloaded again, is not drawn again."""
    key = (repr(act_rows(copy)), copy.act.installed_at)  # all that ``draw_act`` shows
    with _KEPT:
        data = _DRAWN.get(key)
        if data is not None:
            _DRAWN.move_to_end(key)
            return data
    data = draw_act(copy)
    with _KEPT:
        _DRAWN[key] = data
        while len(_DRAWN) > DRAWN_KEPT:
            _DRAWN.popitem(last=False)
    return data


def draw_act(copy: ActCopy, *, read_fonts: bool = False) -> bytes:
    """Draw the act. The faces are the ones this process read once, unless ``read_fonts``:
    then from the font files as ``FPDF.add_font`` reads them (the same bytes, slower)."""
    from fpdf import FPDF  # local: fpdf (and numpy behind it) load only to draw an act

    pdf = FPDF(format="A4")
    faces = () if read_fonts else _faces()
    if read_fonts:
        pdf.add_font(FONT, fname=str(FONT_FILES / "SourceSansPro-Regular.ttf"))
        pdf.add_font(FONT, style="B", fname=str(FONT_FILES / "SourceSansPro-Bold.ttf"))
    for face in faces:
        face.add_to(pdf)
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
    for face in faces:
        face.give_subset(pdf)
    return bytes(pdf.output())


def prepare() -> None:
    """Load the PDF library, read the faces and draw a sample act now (a second or two of
    CPU), so the first act a citizen gets is not the one that pays for it. The notifier,
    which draws one for every completion, calls it in a thread as it starts."""
    sample = Act(
        act_number="AKT-0",
        meter_serial="0",
        meter_model="",
        initial_reading_m3="0.000",
        seal_numbers=["0"],
        installed_at="2026-01-01T09:00:00+04:00",
        installer_name="Əli Həsənov",
    )
    draw_act(ActCopy("SQ-2026-000000", "0", "Bakı şəhəri", sample))  # not kept


async def prepare_in_background() -> None:
    """``prepare`` in a thread (a service's background job as it starts); a failure is
    logged, and the first act drawn then pays the cost instead."""
    try:
        await asyncio.to_thread(prepare)
    except Exception as exc:
        structlog.get_logger("meter.documents").warning(
            "could not draw a sample act at start", error=repr(exc)
        )


def _moment(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return datetime(2000, 1, 1, tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _file_id(copy: ActCopy) -> str:
    digest = hashlib.md5(repr(act_rows(copy)).encode(), usedforsecurity=False).hexdigest()
    return f"<{digest}><{digest}>"


class _Face:
    """One face of the font, read once per process: what ``FPDF.add_font`` reads anew for
    every document, and the subsets of the glyph sets drawn lately."""

    def __init__(self, style: str, path: Path, keep: int = 256) -> None:
        from fontTools.subset import Options
        from fontTools.ttLib import TTFont
        from fpdf import FPDF

        self.style, self.keep = style, keep
        reader = FPDF()
        reader.add_font(FONT, style=style, fname=str(path))
        # As ``add_font`` makes it: its metrics are shared, its font never subset.
        self.font: TTFFont = reader.fonts[f"{FONT.lower()}{style}"]  # type: ignore[assignment]
        # The file without the tables the output's subsetting drops (``drop_tables``, see
        # fpdf.output): the layout tables would be decompiled only to be dropped. The
        # others are copied as they are (read lazily, never decompiled).
        dropped = {*Options().drop_tables, "GDEF", "GPOS", "GSUB"}
        whole = TTFont(path, recalcTimestamp=False, lazy=True)
        for tag in [tag for tag in sorted(whole.keys()) if tag.strip() in dropped]:
            del whole[tag]
        stripped = io.BytesIO()
        whole.save(stripped)
        whole.close()
        self.data = stripped.getvalue()
        self.subsets: OrderedDict[frozenset[str], bytes] = OrderedDict()
        self.lock = threading.Lock()

    def add_to(self, pdf: FPDF) -> None:
        """What ``pdf.add_font(FONT, style, fname)`` does, without reading the file."""
        from fpdf.fonts import SubsetMap

        font = copying.copy(self.font)
        font.i = len(pdf.fonts) + 1
        # What a document changes is its own; the rest (cmap, metrics) is shared.
        font.cw = self.font.cw.copy()
        font.glyph_ids = dict(self.font.glyph_ids)
        font.desc = copying.copy(self.font.desc)  # the output names and numbers it
        font.missing_glyphs = []
        font.biggest_size_pt = 0
        font.subset = SubsetMap(font)
        pdf.fonts[font.fontkey] = font

    def give_subset(self, pdf: FPDF) -> None:
        """Once the text is drawn: the font the output subsets (in place, then closes) is
        the document's own, opened from the subset of the glyphs drawn (made once per
        glyph set). Subsetting keeps every glyph of it, so the embedded font is the one
        the output would have made from the whole file."""
        from fontTools.ttLib import TTFont

        font: TTFFont = pdf.fonts[f"{FONT.lower()}{self.style}"]  # type: ignore[assignment]
        glyphs = frozenset(font.subset.get_all_glyph_names())
        with self.lock:
            data = self.subsets.get(glyphs)
            if data is not None:
                self.subsets.move_to_end(glyphs)
        if data is None:
            data = self._subset(glyphs)
            with self.lock:
                self.subsets[glyphs] = data
                while len(self.subsets) > self.keep:
                    self.subsets.popitem(last=False)
        # Its bounding boxes are the subset's, measured when it was made: not again.
        font.ttfont = TTFont(io.BytesIO(data), recalcTimestamp=False, recalcBBoxes=False, lazy=True)

    def _subset(self, glyphs: frozenset[str]) -> bytes:
        """The subset the output makes (fpdf.output ``_add_fonts``: the same options), with
        the glyphs' names kept: the output's subsetting finds the glyphs by name."""
        from fontTools.subset import Options, Subsetter
        from fontTools.ttLib import TTFont

        options = Options(notdef_outline=True, recommended_glyphs=True, glyph_names=True)
        font = TTFont(io.BytesIO(self.data), recalcTimestamp=False, lazy=True)
        subsetter = Subsetter(options)
        subsetter.populate(glyphs=glyphs)
        subsetter.subset(font)
        made = io.BytesIO()
        font.save(made)
        font.close()
        return made.getvalue()


_FACES: list[tuple[_Face, ...]] = []  # read once, at the first act this process draws
_READING = threading.Lock()
_DRAWN: OrderedDict[tuple[str, str], bytes] = OrderedDict()
_KEPT = threading.Lock()


def _faces() -> tuple[_Face, ...]:
    """The regular and the bold face (read under a lock: acts are drawn in threads)."""
    if not _FACES:
        with _READING:
            if not _FACES:
                _FACES.append(
                    (
                        _Face("", FONT_FILES / "SourceSansPro-Regular.ttf"),
                        _Face("B", FONT_FILES / "SourceSansPro-Bold.ttf"),
                    )
                )
    return _FACES[0]
