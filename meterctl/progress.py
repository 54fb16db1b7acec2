"""A progress bar for long operations, on a terminal only (rich, on stderr).

Scripts and logs get no bar, only the final count each command prints itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

Advance = Callable[[int], None]


@contextmanager
def progress(
    description: str, total: int | None, console: Console | None = None
) -> Iterator[Advance]:
    """``advance(n)`` moves the bar by ``n``; ``total=None`` when the end is not known."""
    console = console or Console(stderr=True)
    if not console.is_terminal:
        yield lambda count: None
        return
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(description, total=total)

        def advance(count: int) -> None:
            bar.advance(task, count)
            done = bar.tasks[0].completed
            if total is not None and done > total:
                bar.update(task, total=done)  # an estimate overtaken: keep the bar honest

        yield advance
