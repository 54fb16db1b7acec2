"""The generated reference in docs/ is the code's: a stale file fails."""

from __future__ import annotations

from devtools.docs import REFERENCE, generated


def test_the_committed_reference_is_generated_from_the_code() -> None:
    for name, text in generated().items():
        committed = (REFERENCE / name).read_text(encoding="utf-8")
        assert committed == text, f"docs/reference/{name} is stale: run `make definitions`"
