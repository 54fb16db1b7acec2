"""The citizen's copy of the act: a PDF a reader opens, in Azerbaijani, the same every time."""

from __future__ import annotations

import io
import types
from collections import OrderedDict

import pypdf
import pytest
import structlog.testing

from shared import documents
from shared.contracts.commands import Act
from shared.documents import ActCopy, draw_act, render_act

ACT = Act(
    act_number="AKT-2026-000001",
    meter_serial="WM-2026-000123",
    meter_model="Sensus 620",
    initial_reading_m3="0.000",
    seal_numbers=["PL-1001", "PL-1002"],
    installed_at="2026-11-27T12:30:00+04:00",
    installer_name="Rəşad Məmmədov",
)
COPY = ActCopy("SQ-2026-000001", "1000001", "Bakı, Nəsimi r-nu, Azadlıq pr. 12", ACT)


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)


def test_the_act_names_every_field_the_address_and_the_subscriber_code() -> None:
    text = text_of(render_act(COPY))
    for value in (
        "AKT-2026-000001",
        "SQ-2026-000001",
        "1000001",
        "Bakı, Nəsimi r-nu, Azadlıq pr. 12",
        "WM-2026-000123",
        "Sensus 620",
        "0.000",
        "PL-1001, PL-1002",
        "27.11.2026 12:30",
        "Rəşad Məmmədov",
    ):
        assert value in text


def test_every_azerbaijani_letter_is_in_the_font_and_the_text() -> None:
    text = text_of(render_act(COPY))
    assert [letter for letter in "əğıöşüçİ" if letter not in text] == []


def test_the_same_act_gives_the_same_bytes_and_another_act_other_bytes() -> None:
    assert draw_act(COPY) == draw_act(COPY) == render_act(COPY) == render_act(COPY)
    other = ActCopy(COPY.application_number, "1000002", COPY.address, ACT)
    assert render_act(other) != render_act(COPY)


ODD = [
    COPY,
    ActCopy("SQ-2026-000002", "1000002", "", ACT.model_copy(update={"meter_model": ""})),
    ActCopy(
        "SQ-2026-000003",
        "1000003",
        "Москва, ул. Ленина 5 / Αθήνα № 7 € § 漢",  # one letter the font lacks
        ACT.model_copy(
            update={
                "installed_at": "not a date",
                "installer_name": "ÇƏĞİÖŞÜ çəğıöşü Wq",
                "seal_numbers": ["a", "B-2", "ŞÜ/3"],
            }
        ),
    ),
]


def test_the_faces_read_once_draw_what_the_font_files_read_anew_draw() -> None:
    for copy in ODD:
        assert draw_act(copy) == draw_act(copy, read_fonts=True)


def test_the_bytes_do_not_depend_on_what_this_process_drew_before() -> None:
    first = [draw_act(copy) for copy in ODD]
    for face in documents._faces():
        face.made.clear()
    documents._DRAWN.clear()
    assert [render_act(copy) for copy in reversed(ODD)] == first[::-1]
    assert [draw_act(copy) for copy in ODD] == first  # the fonts made meanwhile, kept


def test_acts_drawing_the_same_glyphs_embed_the_font_made_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from fontTools import subset

    draw_act(COPY)  # the faces read, the font of the alphabet's glyphs made
    subset_fonts: list[object] = []
    real = subset.Subsetter.subset

    def counted(self: subset.Subsetter, font: object) -> None:
        subset_fonts.append(font)
        real(self, font)

    monkeypatch.setattr(subset.Subsetter, "subset", counted)
    other = ActCopy(
        "SQ-2026-000777",
        "7007007",
        "Gəncə, Şah İsmayıl Xətai pr. 45, mənzil 3",
        ACT.model_copy(update={"installer_name": "Günel Çələbiyeva", "meter_model": "Itron"}),
    )
    assert documents._OUTPUT.passes_made
    assert draw_act(other) == draw_act(other, read_fonts=True)  # read anew: both faces subset
    assert len(subset_fonts) == 2
    assert "Gəncə" in text_of(draw_act(other))
    assert len(subset_fonts) == 2  # the faces' fonts made before, not subset again


def test_acts_embedding_the_same_font_compress_it_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import zlib

    from fpdf import syntax

    draw_act(COPY)  # the faces read: the library's streams compress through the cache
    assert vars(syntax)["zlib"].compress == documents._COMPRESSED.compress
    large: list[int] = []

    def counted(data: bytes, level: int = -1) -> bytes:
        if len(data) >= documents._Compressed.LARGE:
            large.append(len(data))
        return zlib.compress(data, level)

    monkeypatch.setattr(documents, "_COMPRESSED", documents._Compressed())
    monkeypatch.setattr(
        syntax, "zlib", types.SimpleNamespace(compress=documents._COMPRESSED.compress)
    )
    monkeypatch.setattr(documents, "zlib", types.SimpleNamespace(compress=counted))
    first = draw_act(COPY)
    compressed_first = len(large)
    other = ActCopy("SQ-2026-000778", "7007008", COPY.address, ACT)
    second = draw_act(other)
    assert compressed_first >= 3  # the two faces' glyph maps and the regular font file
    assert len(large) == compressed_first  # the second act's came from the cache
    assert first != second
    monkeypatch.undo()  # the process's own cache again: the same bytes
    assert draw_act(other, read_fonts=True) == second


def test_the_file_is_named_after_the_act_and_safe_as_a_file_name() -> None:
    assert COPY.filename == "akt-AKT-2026-000001.pdf"
    odd = ActCopy("SQ-2026-000001", "1", "", ACT.model_copy(update={"act_number": "A/1 2"}))
    assert odd.filename == "akt-A-1-2.pdf"


def test_preparing_reads_the_faces_and_keeps_no_act(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(documents, "_FACES", [])
    monkeypatch.setattr(documents, "_DRAWN", OrderedDict())
    documents.prepare()
    assert len(documents._FACES) == 1  # the regular and the bold face, read
    assert not documents._DRAWN  # the sample act is kept for nobody
    assert render_act(COPY) == draw_act(COPY, read_fonts=True)


async def test_a_preparation_that_fails_is_logged_not_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken() -> None:
        raise OSError("font file missing")

    monkeypatch.setattr(documents, "prepare", broken)
    with structlog.testing.capture_logs() as logs:
        await documents.prepare_in_background()
    assert [entry["event"] for entry in logs] == ["could not draw a sample act at start"]
    assert "font file missing" in logs[0]["error"]
