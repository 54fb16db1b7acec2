"""SMS part counting: GSM-7 160/153, UCS-2 70/67, and the 3-part limit."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.notifier.domain import smsparts
from services.notifier.domain.texts import step_text

N = "SQ-2026-000042"


def test_a_gsm7_text_takes_one_part_up_to_160_characters() -> None:
    assert smsparts.encoding("a" * 160) == "gsm7"
    assert smsparts.parts("a" * 160) == 1
    assert smsparts.parts("a" * 161) == 2


def test_a_long_gsm7_text_takes_153_characters_per_part() -> None:
    assert smsparts.parts("a" * 306) == 2
    assert smsparts.parts("a" * 307) == 3
    assert smsparts.parts("a" * 459) == 3
    assert smsparts.parts("a" * 460) == 4


def test_gsm7_extension_characters_count_twice() -> None:
    assert smsparts.encoding("€[]{}") == "gsm7"
    assert smsparts.length("a" * 158 + "€") == 160
    assert smsparts.parts("a" * 158 + "€") == 1
    assert smsparts.parts("a" * 159 + "€") == 2


def test_an_escape_pair_is_never_split_between_parts() -> None:
    # 152 septets, then "€" (2): it cannot start in part one, so part two begins with it.
    assert smsparts.parts("a" * 152 + "€" + "a" * 151) == 2
    assert smsparts.parts("a" * 152 + "€" + "a" * 152) == 3


def test_azerbaijani_letters_outside_gsm7_make_the_text_ucs2() -> None:
    for letter in "əğışİ":
        assert smsparts.encoding(f"Salam {letter}") == "ucs2"
    # ö, ü and Ç are in the GSM-7 alphabet; ç is not.
    assert smsparts.encoding("Gözəl") == "ucs2"
    assert smsparts.encoding("Göz Üz Ç") == "gsm7"
    assert smsparts.encoding("ç") == "ucs2"


def test_a_ucs2_text_takes_one_part_up_to_70_characters() -> None:
    assert smsparts.parts("ə" * 70) == 1
    assert smsparts.parts("ə" * 71) == 2


def test_a_long_ucs2_text_takes_67_characters_per_part() -> None:
    assert smsparts.parts("ə" * 134) == 2
    assert smsparts.parts("ə" * 135) == 3
    assert smsparts.parts("ə" * 201) == 3
    assert smsparts.parts("ə" * 202) == 4


def test_one_non_gsm_letter_switches_a_whole_long_text_to_ucs2() -> None:
    assert smsparts.parts("a" * 69 + "ş") == 1
    assert smsparts.parts("a" * 70 + "ş") == 2


def test_the_azerbaijani_registration_text_takes_two_ucs2_parts() -> None:
    text = step_text("application.registered", N, {}, "az")
    assert smsparts.encoding(text) == "ucs2"
    assert smsparts.parts(text) == 2
    assert smsparts.fit(text, N) == text


def test_a_text_too_long_for_three_parts_is_shortened_keeping_the_number() -> None:
    details = {"outcome": "installed", "meter_serial": "S" * 300, "act_number": "A-1"}
    text = step_text("application.completed", N, details, "az")
    assert smsparts.parts(text) > 3
    shortened = smsparts.fit(text, N)
    assert smsparts.parts(shortened) == 3
    assert shortened.startswith(f"{N} nömrəli")
    assert shortened.endswith("…")


def test_the_number_is_kept_even_when_it_comes_last() -> None:
    text = "Çox uzun mətn. " * 30 + f"Müraciət nömrəniz: {N}"
    shortened = smsparts.fit(text, N)
    assert N in shortened
    assert smsparts.parts(shortened) <= 3


def test_a_shortened_gsm7_text_stays_gsm7() -> None:
    text = f"Your application {N} has been completed. Meter: " + "X" * 600
    shortened = smsparts.fit(text, N)
    assert smsparts.encoding(shortened) == "gsm7"
    assert smsparts.parts(shortened) == 3
    assert shortened.endswith("...")


@given(st.text(min_size=0, max_size=900))
def test_any_text_fits_three_parts_and_keeps_the_number(text: str) -> None:
    shortened = smsparts.fit(f"{N} {text}", N)
    assert smsparts.parts(shortened) <= 3
    assert N in shortened
