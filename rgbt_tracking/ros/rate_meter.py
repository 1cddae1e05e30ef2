"""Event rate over a sliding time window (no rclpy), for diagnostics."""
from __future__ import annotations

import collections
import threading
import time
from typing import Callable, Deque, Optional


class RateMeter:
    """Events per second over the last ``window`` seconds.

    Args:
        window: seconds of history.
        clock: time source in seconds (monotonic by default).
    """

    def __init__(self, window: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = float(window)
        self._clock = clock
        self._times: Deque[float] = collections.deque()
        self._lock = threading.Lock()
        self.count = 0

    def tick(self, now: Optional[float] = None) -> None:
        """Record one event."""
        now = self._clock() if now is None else now
        with self._lock:
            self._times.append(now)
            self.count += 1
            self._trim(now)

    def rate(self, now: Optional[float] = None) -> float:
        """Events per second in the window (0 with fewer than two events)."""
        now = self._clock() if now is None else now
        with self._lock:
            self._trim(now)
            if len(self._times) < 2:
                return 0.0
            # Measured up to now, not to the last event, so a stream that stops decays
            # towards 0 instead of reporting its old rate for a whole window.
            span = max(self._times[-1] - self._times[0], now - self._times[0])
            return (len(self._times) - 1) / span if span > 0 else 0.0

    def _trim(self, now: float) -> None:
        while self._times and now - self._times[0] > self.window:
            self._times.popleft()
