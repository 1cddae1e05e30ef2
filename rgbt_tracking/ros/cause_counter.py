"""Counting of recoverable input errors by cause, logging each cause once (no rclpy).

A node must not die from one bad message, and a stream of bad messages must not flood the
log: :class:`CauseCounter` logs the first occurrence of each cause and counts every one,
for the node's diagnostics.
"""
from __future__ import annotations

import re
import threading
from typing import Callable, Dict

# A number standing on its own ("step 10", "960x540", "0.25 s"), not one inside a name
# ("rgb8", "32FC1", "yuv422").
_NUMBER = re.compile(r"(?<![A-WYZa-wyz0-9_])[-+]?\d+(\.\d+)?(?![A-WYZa-wyz0-9_])")


class CauseCounter:
    """Counts errors per cause; calls ``log`` the first time a cause is seen.

    Args:
        log: called with a message the first time each cause occurs.
    """

    def __init__(self, log: Callable[[str], None]) -> None:
        self._log = log
        self._counts: Dict[str, int] = {}
        self._lock = threading.Lock()

    def record(self, cause: str, detail: str = "") -> int:
        """Count one error of ``cause``; returns the count so far for that cause.

        Numbers in ``cause`` are folded to ``#`` for the key (sizes and stamps vary from
        message to message; the kind of problem does not), and the first message of each
        key is logged in full.
        """
        text = cause
        cause = _NUMBER.sub("#", cause)
        if not detail and text != cause:
            detail, text = text, ""
        with self._lock:
            count = self._counts.get(cause, 0) + 1
            self._counts[cause] = count
        if count == 1:
            message = f"{text}: {detail}" if text and detail else (detail or text)
            self._log(f"{message} (logged once per kind; further occurrences are counted in "
                      "diagnostics)")
        return count

    @property
    def counts(self) -> Dict[str, int]:
        """A copy of cause -> count."""
        with self._lock:
            return dict(self._counts)

    @property
    def total(self) -> int:
        """All errors counted."""
        with self._lock:
            return sum(self._counts.values())
