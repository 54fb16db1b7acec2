"""The generated reference in docs/ is the code's: a stale file fails."""

from __future__ import annotations

import re

from devtools.docs import REFERENCE, generated


def test_the_committed_reference_is_generated_from_the_code() -> None:
    for name, text in generated().items():
        committed = (REFERENCE / name).read_text(encoding="utf-8")
        assert committed == text, f"docs/reference/{name} is stale: run `make definitions`"


def test_nothing_in_the_repository_sends_a_reader_outside_it() -> None:
    """The contract lives in docs/: no file points at the team's handbook beside the
    repository (the brief, the conventions or the developers' guide)."""
    root = REFERENCE.parents[1]
    outside = re.compile(r"\.\./shared/|\bDESIGN(\.md)?\b|\bCONVENTIONS\.md\b|\bDEVELOPERS\.md\b")
    skip = {".git", ".venv", ".tools", "var", "node_modules", "__pycache__"}
    found = []
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if skip & set(relative.parts) or not path.is_file():
            continue
        kinds = {".py", ".md", ".toml", ".yaml", ".yml", ".json", ".txt", ".cfg"}
        if path.suffix not in kinds and path.name not in {"Makefile", "run"}:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        found += [
            f"{relative}:{n}" for n, line in enumerate(text.splitlines(), 1) if outside.search(line)
        ]
    assert found == [], f"these lines send a reader outside the repository: {found}"


def test_every_link_between_the_documents_leads_somewhere() -> None:
    root = REFERENCE.parents[1]
    documents = [
        root / "README.md",
        *(root / "docs").rglob("*.md"),
        *(root / "deploy").rglob("*.md"),
    ]
    broken = []
    for document in documents:
        for match in re.finditer(r"\]\(([^)#\s]+)(#[^)]*)?\)", document.read_text("utf-8")):
            target = match.group(1)
            outside = target.startswith(("http://", "https://", "mailto:"))
            if not outside and not (document.parent / target).exists():
                broken.append(f"{document.relative_to(root)} -> {target}")
    assert broken == []
