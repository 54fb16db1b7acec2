"""The services' logs during one scenario: errors and warnings counted, a few kept.

Each service logs one JSON object per line (``LOG_FORMAT=json``) to ``<logs>/<name>.log``;
``mark`` remembers where every log ends, ``errors`` reads what was written since. A line
that is not JSON (a traceback printed past the logger) is counted as ``not_json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KEEP = 3


@dataclass
class LogWatch:
    directory: Path
    names: tuple[str, ...]
    _offsets: dict[str, int] = field(default_factory=dict)

    def _path(self, name: str) -> Path:
        return self.directory / f"{name}.log"

    def mark(self) -> None:
        for name in self.names:
            path = self._path(name)
            self._offsets[name] = path.stat().st_size if path.exists() else 0

    def errors(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name in self.names:
            path = self._path(name)
            if not path.exists():
                continue
            with path.open("rb") as log:
                log.seek(self._offsets.get(name, 0))
                text = log.read().decode("utf-8", errors="replace")
            summary = summarise(text.splitlines())
            if summary:
                found[name] = summary
        return found


def summarise(lines: list[str]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    samples: list[str] = []
    first_not_json = ""
    for line in lines:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            level, text = "not_json", line[:300]
            first_not_json = first_not_json or text
        else:
            level = str(record.get("level", "")).lower()
            text = str(record.get("event", ""))[:300]
        if level in {"warning", "error", "critical", "exception", "not_json"}:
            counts[level] = counts.get(level, 0) + 1
            if level not in {"warning", "not_json"} and len(samples) < KEEP and text not in samples:
                samples.append(text)
    if first_not_json:
        counts_and_more: dict[str, Any] = {**counts, "first_not_json": first_not_json}
        return {**counts_and_more, "samples": samples}
    return {**counts, "samples": samples} if counts else {}
