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
decompile only to drop).

Subsetting and writing out the embedded font was most of an act's cost, and it depends on
the set of glyphs drawn only. So every act picks the same glyphs first (``ALPHABET``: the
Azerbaijani and Latin letters, digits and punctuation, in a fixed order) and nearly every
act draws the same set; the font the PDF library made of a set is kept (``_Face.made``)
and given to it as made (``_Made``), its subsetting step passed over for it alone
(by the subsetter ``_Output.install`` puts in the library's output module). An act with a
character outside the alphabet makes its own set once. The library also compresses the
font file and the glyph maps of every act anew; the results of large inputs are kept
(``_Compressed``). The bytes are the ones the library makes from the font files read anew
(``draw_act(read_fonts=True)``), which the tests compare.
"""

from __future__ import annotations

import asyncio
import copy as copying
import hashlib
import io
import threading
import types
import zlib
from collections import OrderedDict
from collections.abc import Callable
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
# The act's closing sentences, a line each.
CLOSING = (
    "Sayğac quraşdırılmış, plomblanmış və qeydiyyata alınmışdır.",
    "Aktın bir nüsxəsi abonentə təqdim edilir.",
    "Xidmətimizdən istifadə etdiyiniz üçün təşəkkür edirik.",
)
# Picked first in every act, in this order, so that acts share their glyph set (and so
# the font embedded): printable ASCII, the Azerbaijani letters, what the labels use.
ALPHABET = "".join(chr(code) for code in range(0x21, 0x7F)) + "ƏəĞğİıÖöŞşÜüÇç—–№³«»“”’"


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
    regular: TTFFont = pdf.fonts[FONT.lower()]  # type: ignore[assignment]
    for letter in ALPHABET:  # the bold face draws only the fixed labels and the title
        regular.subset.pick(ord(letter))
    # Deterministic: the date is the act's own, the file identifier derives from the facts.
    pdf.set_creation_date(_moment(copy.act.installed_at))
    pdf.file_id = lambda: _file_id(copy)  # type: ignore[method-assign]
    pdf.set_title(f"{TITLE} {copy.act.act_number}")
    pdf.set_author("Azərsu ASC")
    pdf.set_lang("az")
    pdf.set_margins(20, 20, 20)
    pdf.add_page()
    pdf.set_font(FONT, "B", 16)
    _line(pdf, 9, TITLE, align="C")
    pdf.set_font(FONT, "", 11)
    _line(pdf, 6, f"№ {copy.act.act_number}", align="C")
    pdf.ln(6)
    for label, value in act_rows(copy):
        pdf.set_font(FONT, "B", 11)
        pdf.cell(70, 8, label, border="B")
        pdf.set_font(FONT, "", 11)
        _line(pdf, 8, value, border="B")
    pdf.ln(10)
    pdf.set_font(FONT, "", 10)
    for sentence in CLOSING:  # a line each: the line breaking would measure them again
        _line(pdf, 5, sentence)
    for face in faces:
        face.give_subset(pdf)
    return bytes(pdf.output())


def _line(pdf: FPDF, height: float, text: str, align: str = "L", border: str = "") -> None:
    """Text to the right margin, then the next line: one cell when it fits (the line
    breaking of ``multi_cell`` measures the text again at every character), wrapped over
    as many lines as it needs when it does not."""
    room = pdf.w - pdf.r_margin - pdf.x - 2 * pdf.c_margin
    if "\n" not in text and pdf.get_string_width(text) <= room:
        pdf.cell(0, height, text, border=border, align=align, new_x="LMARGIN", new_y="NEXT")
    else:
        pdf.multi_cell(0, height, text, border=border, align=align, new_x="LMARGIN", new_y="NEXT")


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
    every document, and the fonts the output made of the glyph sets drawn lately."""

    def __init__(self, style: str, path: Path, kept: int = 64) -> None:
        from fontTools.subset import Options
        from fontTools.ttLib import TTFont
        from fpdf import FPDF

        self.style, self.kept = style, kept
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
        self.made: OrderedDict[frozenset[str], _Made] = OrderedDict()
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
        the document's own. If a document drew the same glyphs lately, it is the font the
        output made then (``_Made``, which its subsetting passes over); if not, the whole
        face, recorded as the output writes it out (``_OUTPUT.recording``)."""
        font: TTFFont = pdf.fonts[f"{FONT.lower()}{self.style}"]  # type: ignore[assignment]
        glyphs = frozenset(font.subset.get_all_glyph_names())
        with self.lock:
            made = self.made.get(glyphs)
            if made is not None:
                self.made.move_to_end(glyphs)
        if made is not None and _OUTPUT.passes_made:
            font.ttfont = made
        else:
            font.ttfont = _OUTPUT.recording(self, glyphs)

    def keep(self, glyphs: frozenset[str], made: _Made) -> None:
        with self.lock:
            self.made[glyphs] = made
            while len(self.made) > self.kept:
                self.made.popitem(last=False)


class _Made:
    """A subset font as the PDF output made it, with what the output asks of the font it
    subsets (the glyph ids by name, the file's bytes), never parsed or written again."""

    def __init__(self, data: bytes, ids: dict[str, int]) -> None:
        self.data, self.ids = data, ids

    def getGlyphID(self, name: str) -> int:
        return self.ids[name]

    def save(self, file: io.BytesIO, reorderTables: bool | None = True) -> None:
        file.write(self.data)

    def __contains__(self, tag: str) -> bool:  # the output only asks for a CFF table
        return False

    def close(self) -> None:
        pass


class _Output:
    """How this process hands fonts to the PDF output, set up with the faces (fontTools
    and fpdf load only then): ``recording`` opens a face's font so that what the output
    writes of it is kept (``_Face.keep``); ``passes_made`` says whether the output's
    subsetting passes over a ``_Made`` font. It does once ``install`` has put a subsetter
    into fpdf's output module that does nothing for a ``_Made`` font and subsets every
    other font as before; if that module is not shaped as expected (another fpdf), every
    act's font is subset and written out in full, as the library does."""

    passes_made = False

    def install(self) -> None:
        from fontTools import subset
        from fontTools.ttLib import TTFont
        from fpdf import output, syntax

        class Recording(TTFont):  # type: ignore[misc]
            def __init__(self, face: _Face, glyphs: frozenset[str]) -> None:
                super().__init__(io.BytesIO(face.data), recalcTimestamp=False, lazy=True)
                self.face, self.glyphs = face, glyphs

            def save(self, file: io.BytesIO, reorderTables: bool | None = True) -> None:
                written = io.BytesIO()
                super().save(written, reorderTables)
                data = written.getvalue()
                ids = dict(self.getReverseGlyphMap(rebuild=True))
                self.face.keep(self.glyphs, _Made(data, ids))
                file.write(data)

        class Subsetter(subset.Subsetter):  # type: ignore[misc]
            def subset(self, font: object) -> None:
                if not isinstance(font, _Made):
                    super().subset(font)

        self.recording: Callable[[_Face, frozenset[str]], object] = Recording
        module = vars(output)  # the name fpdf's output looks the subsetter up by
        replacement = types.SimpleNamespace(
            Options=subset.Options, Subsetter=Subsetter, passes_made=True
        )
        if module.get("ftsubset") is subset:
            module["ftsubset"] = replacement
        self.passes_made = bool(getattr(module.get("ftsubset"), "passes_made", False))
        streams = vars(syntax)  # the name fpdf's streams compress by
        if streams.get("zlib") is zlib:
            streams["zlib"] = types.SimpleNamespace(compress=_COMPRESSED.compress)


class _Compressed:
    """``zlib.compress`` for the PDF library's streams, keeping the last results of large
    inputs: every act embeds the same font file and glyph map (about 160 kB to compress,
    a fifth of an act's cost) unless its glyphs differ. The bytes are zlib's own."""

    LARGE = 4096

    def __init__(self, kept: int = 16) -> None:
        self.kept = kept
        self.results: OrderedDict[tuple[bytes, int], bytes] = OrderedDict()
        self.lock = threading.Lock()

    def compress(self, data: bytes, /, level: int = -1) -> bytes:
        if len(data) < self.LARGE:
            return zlib.compress(data, level)
        key = (bytes(data), level)
        with self.lock:
            result = self.results.get(key)
            if result is not None:
                self.results.move_to_end(key)
                return result
        result = zlib.compress(data, level)
        with self.lock:
            self.results[key] = result
            while len(self.results) > self.kept:
                self.results.popitem(last=False)
        return result


_COMPRESSED = _Compressed()


_OUTPUT = _Output()
_FACES: list[tuple[_Face, ...]] = []  # read once, at the first act this process draws
_READING = threading.Lock()
_DRAWN: OrderedDict[tuple[str, str], bytes] = OrderedDict()
_KEPT = threading.Lock()


def _faces() -> tuple[_Face, ...]:
    """The regular and the bold face (read under a lock: acts are drawn in threads)."""
    if not _FACES:
        with _READING:
            if not _FACES:
                _OUTPUT.install()
                _FACES.append(
                    (
                        _Face("", FONT_FILES / "SourceSansPro-Regular.ttf"),
                        _Face("B", FONT_FILES / "SourceSansPro-Bold.ttf"),
                    )
                )
    return _FACES[0]
