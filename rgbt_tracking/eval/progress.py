"""A dependency-free progress bar for long loops (stderr; quiet when not a terminal)."""
from __future__ import annotations

import sys
import time
from typing import Iterable, Iterator, Optional, TextIO, TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], total: Optional[int] = None, desc: str = "",
             stream: TextIO | None = None, min_interval: float = 0.2) -> Iterator[T]:
    """Yield ``items`` while drawing ``desc [#####     ] i/total  rate/s`` on ``stream``.

    On a terminal the bar redraws in place at most every ``min_interval`` seconds; when
    ``stream`` is not a terminal (CI logs) it prints one line at each 25 %.
    """
    stream = stream if stream is not None else sys.stderr
    interactive = hasattr(stream, "isatty") and stream.isatty()
    if total is None:
        try:
            total = len(items)  # type: ignore[arg-type]
        except TypeError:
            total = None
    started = last = time.monotonic()
    next_quarter = 1
    count = 0
    for count, item in enumerate(items, start=1):
        yield item
        now = time.monotonic()
        rate = count / max(now - started, 1e-9)
        if interactive and (now - last >= min_interval or count == total):
            last = now
            if total:
                filled = int(30 * count / total)
                bar = "#" * filled + " " * (30 - filled)
                stream.write(f"\r{desc} [{bar}] {count}/{total} {rate:6.1f}/s")
            else:
                stream.write(f"\r{desc} {count} {rate:6.1f}/s")
            stream.flush()
        elif not interactive and total and count * 4 >= next_quarter * total:
            stream.write(f"{desc}: {count}/{total} ({rate:.1f}/s)\n")
            next_quarter += 1
    if interactive and count:
        stream.write("\n")
        stream.flush()
