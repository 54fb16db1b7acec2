"""The characterization corpus: bodies and what the validators answered before typed commands.

``golden/*.json.gz`` were written by the hand-written validators of commit a9671b5 (random
bodies from a fixed seed: valid, missing, null, blank, mistyped and unknown fields). The
typed readers must give byte-for-byte the same answers.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).with_name("golden")


def corpus(name: str) -> list[dict[str, Any]]:
    with gzip.open(GOLDEN / f"{name}.json.gz", "rt", encoding="utf-8") as file:
        cases: list[dict[str, Any]] = json.load(file)
    return cases
