"""Approximate-time pairing of two message streams (RGB and thermal), in pure Python.

No rclpy here: the node extracts each message's header stamp (seconds, see
:func:`rgbt_tracking.ros.detection_messages.stamp_to_seconds`) and calls :meth:`ApproximatePairSynchronizer.add_a` /
:meth:`~ApproximatePairSynchronizer.add_b` from its subscription callbacks, from any thread.

Pairing rule
------------
Each message is paired with the *closest* message of the other stream whose stamp lies
within ``slop`` seconds; pairs never cross in time (if a1 < a2 are paired with b1 and b2,
then b1 < b2) and each message is used at most once. A message that loses its only possible
partner to a closer message, or whose nearest possible partner is more than ``slop`` away,
is dropped and counted.

Emission rule (when a pair is certain)
--------------------------------------
Let x be the oldest buffered message of either stream and y the oldest buffered message of
the other stream, ``x.stamp <= y.stamp``, ``d = y.stamp - x.stamp`` (stream B's stamps
minus ``offset``, see "Offsets").

1. ``d > slop``: x can never be paired (every later message of y's stream is later still);
   x is dropped.
2. y's stream cannot offer x anything closer than y, so the pair stands or falls with y's
   choice. If a buffered message of x's stream is strictly closer to y than x (it is then
   newer than x), x is dropped.
3. Otherwise the pair (x, y) is emitted as soon as no *future* message of x's stream can be
   closer to y, i.e. ``horizon - y.stamp >= d`` where ``horizon = newest stamp seen on x's
   stream + min_period`` is the earliest stamp the next message of x's stream can carry.
   ``min_period`` is ``period_margin`` (default 0.75) times the smallest stamp interval of
   the last 16 messages of that stream, 0 until 4 intervals have been seen.

For two 30 Hz cameras this means: an exact match (``d == 0``) is emitted the moment its
second message arrives; a pair with ``d`` below about ``0.75 * min_interval / 2`` (about
11 ms for 30 Hz with little jitter) is emitted on the arrival of its later message; any
other pair is emitted when the next frame of the stream that delivered the earlier message
arrives (x's stream has then moved past y). No pair waits longer than one frame of one
stream while that stream keeps publishing; if it stops, its last pair is dropped once the
other stream's queue overflows. ``flush()`` emits what is pending without waiting (end of a
recording).

Certainty assumes each stream's stamps arrive in increasing order (one publisher per
topic). A message older than the last message of its stream that was paired is dropped
(counted as ``out_of_order``); one that is older than the newest of its stream by more than
``jump_back_reset`` seconds is taken as a clock jump (a bag played with ``--loop``, a
simulator restart): the buffers are cleared (``resets``) and pairing starts again.

Faults of message_filters' Python ``ApproximateTimeSynchronizer`` this class avoids
----------------------------------------------------------------------------------------
(message_filters ``src/message_filters/__init__.py`` in ros2/message_filters, and issues.)

* First-available instead of closest partner: ``add()`` pairs the arriving message with the
  best partner *already buffered* within slop and emits at once; a closer partner arriving a
  few milliseconds later is never considered. After a single lost frame, with ``slop``
  larger than the frame period, every later pair can stay off by one frame (see the test
  ``test_closest_not_first_after_a_lost_frame``).
  Here a pair is emitted only once it is certain (rule 3).
* User callback run while holding a plain ``threading.Lock`` taken with
  ``acquire()``/``release()`` and no ``try/finally``: one slow callback serialises every
  subscription feeding the synchroniser (ros2/message_filters#65), a callback that feeds the
  synchroniser again deadlocks, and a callback that raises leaves the lock held so the
  synchroniser never fires again (ros2/message_filters#169, where the callback had the
  wrong signature; rai-opensource/synchros2#110 ships replacements because the upstream
  filters are "not quite safe to use in multi-threaded applications").
  Here matching happens under the lock and the callback runs after it is released, in
  stamp order, one at a time; add_* never waits for a callback (see "Delivery").
* Silent drops: overflowing queues lose their oldest message without a trace, and the
  approximate policy has no drop callback (ros/ros_comm#1059, ros2/message_filters#82).
  Here every drop is counted by stream and cause in :attr:`stats`.
* Stale messages: an unmatched message stays buffered until the queue overflows and may
  later be paired with a much newer one, so pairs can go backwards in time. Here messages
  older than the last pair are dropped and pairs come out in stamp order.
* Time jumping backwards (looped bag) stops synchronisers (ros/ros_comm#1308, ros/ros_comm
  #1438). Here the jump resets the buffers (``jump_back_reset``).
* Cost: ``itertools.product`` over candidate stamps made the Python synchroniser collapse
  with large queues (ros/ros_comm#800, #802). Here a message costs O(queue_size).
* Latency: policies that wait for the next message of *every* stream deliver each set one
  full period late when stamps are offset (fkie/message_filters#2). Here the early rule 3.
* Messages of one topic with equal stamps overwrite each other (queues are dicts keyed by
  stamp); ``max - min < slop`` rejects a pair at exactly ``slop`` that the ``> slop``
  pre-filter kept. Here equal stamps are kept in arrival order and ``|dt| <= slop``.
* QoS: subscriptions whose QoS does not match the publisher never receive anything and the
  synchroniser silently never fires (ros2/message_filters#79). That is the node's part: it
  subscribes with explicit, configurable QoS and reports per-stream counts.

Offsets
-------
"Closest" is only meaningful if corresponding frames carry the closest stamps. Cameras
that are not hardware-triggered stamp a constant offset apart; as that offset nears half
the frame period, jitter makes frame k+1 of one stream sometimes closer than frame k, and
the pairing flips (each flip drops one message per stream). Give the constant offset
(``offset = stamp_b - stamp_a``, e.g. ``stats.mean_offset`` of a run with a static
scene) and pairing uses ``stamp_b - offset``; the stamps passed to the callback are
the original ones.

Delivery
--------
Matched pairs go to a FIFO. The thread that finds no delivery in progress becomes the
deliverer and calls the callback for each pair until the FIFO is empty, without holding the
lock; other threads only enqueue and return. So callbacks never run concurrently, come in
stamp order, may call add_a / add_b themselves (the new pairs are delivered after the
current callback returns), and a slow callback never blocks another thread's add_*.
If the callback raises, the exception propagates to the add_* call that was delivering and
the remaining pairs are delivered by the next add_* or :meth:`flush`.
"""
from __future__ import annotations

import bisect
import collections
import threading
from dataclasses import dataclass
from typing import Any, Callable, Deque, Generic, List, Optional, Tuple, TypeVar

T = TypeVar("T")

_A, _B = 0, 1
_INTERVAL_WINDOW = 16
_MIN_INTERVALS = 4


@dataclass(frozen=True)
class PairInfo:
    """What the synchroniser knows about one emitted pair.

    Attributes:
        stamp_a: stamp of the stream-A message, seconds.
        stamp_b: stamp of the stream-B message, seconds.
        index: 0 for the first pair emitted since construction, then 1, 2, ...
    """

    stamp_a: float
    stamp_b: float
    index: int

    @property
    def offset(self) -> float:
        """``stamp_b - stamp_a`` in seconds (signed)."""
        return self.stamp_b - self.stamp_a


@dataclass(frozen=True)
class SyncStats:
    """Counters since construction (or the last ``reset(clear_stats=True)``).

    Attributes:
        pairs: pairs emitted.
        dropped_a, dropped_b: messages of each stream that were never paired, all causes.
        overflow_a, overflow_b: of those, dropped because the stream's queue was full.
        out_of_order_a, out_of_order_b: of those, dropped because they arrived after a newer
            message of their stream had been paired.
        resets: buffer resets caused by a backwards time jump (not by :meth:`reset`).
        last_offset: ``stamp_b - stamp_a`` of the last pair, seconds, or None.
        mean_abs_offset: mean ``|stamp_b - stamp_a|`` over all pairs, seconds, or None.
        mean_offset: mean signed ``stamp_b - stamp_a``, seconds, or None.
        pending_a, pending_b: messages buffered now.
    """

    pairs: int
    dropped_a: int
    dropped_b: int
    overflow_a: int
    overflow_b: int
    out_of_order_a: int
    out_of_order_b: int
    resets: int
    last_offset: Optional[float]
    mean_abs_offset: Optional[float]
    mean_offset: Optional[float]
    pending_a: int
    pending_b: int


class _Stream:
    """Buffered messages of one stream, sorted by stamp, and its timing history.

    ``stamps`` are matching stamps (stream B's are shifted by the expected offset);
    ``items`` hold ``(original stamp, message)``.
    """

    def __init__(self) -> None:
        self.stamps: List[float] = []
        self.items: List[Tuple[float, Any]] = []
        self.newest: Optional[float] = None
        self.last_paired: Optional[float] = None
        self.intervals: Deque[float] = collections.deque(maxlen=_INTERVAL_WINDOW)
        self.dropped = 0
        self.overflow = 0
        self.out_of_order = 0

    def clear(self) -> int:
        """Forget buffered messages and timing; return how many messages were buffered."""
        count = len(self.stamps)
        self.stamps.clear()
        self.items.clear()
        self.newest = None
        self.last_paired = None
        self.intervals.clear()
        return count

    def insert(self, stamp: float, original_stamp: float, msg: Any) -> None:
        index = bisect.bisect_right(self.stamps, stamp)
        self.stamps.insert(index, stamp)
        self.items.insert(index, (original_stamp, msg))
        if self.newest is not None and stamp >= self.newest:
            self.intervals.append(stamp - self.newest)
        if self.newest is None or stamp > self.newest:
            self.newest = stamp

    def nearest_distance(self, stamp: float) -> float:
        """Smallest ``|s - stamp|`` over the buffered stamps (inf if none)."""
        index = bisect.bisect_left(self.stamps, stamp)
        return min((abs(self.stamps[i] - stamp) for i in (index - 1, index)
                    if 0 <= i < len(self.stamps)), default=float("inf"))

    def pop_oldest(self) -> Tuple[float, Any]:
        """Remove the oldest message; return (original stamp, message)."""
        self.stamps.pop(0)
        return self.items.pop(0)

    def min_period(self, margin: float) -> float:
        """A lower bound on the stamp interval to the next message (0 if unknown)."""
        if len(self.intervals) < _MIN_INTERVALS:
            return 0.0
        return margin * min(self.intervals)


class ApproximatePairSynchronizer:
    """Pairs messages of streams A and B by closest stamps (see the module docstring).

    Args:
        slop: largest accepted ``|stamp_a - stamp_b|``, seconds (> 0).
        queue_size: messages buffered per stream (>= 1); when exceeded the oldest message
            is dropped and counted. It must cover the difference in arrival latency between
            the streams, in frames, plus 2 (thermal arriving 100 ms after RGB at 30 Hz:
            >= 6); otherwise the early stream's messages are dropped before their partners
            arrive.
        callback: ``callback(msg_a, msg_b, info: PairInfo)``, called outside the lock.
        offset: expected ``stamp_b - stamp_a`` in seconds (default 0). Pairing and slop use
            ``stamp_b - offset``; set it when unsynchronised cameras stamp a constant
            latency apart (see "Offsets" in the module docstring).
        period_margin: fraction (0 to 1) of the smallest recent stamp interval assumed as
            the minimum gap to a stream's next message; 0 disables early emission (every
            inexact pair then waits for the next frame).
        jump_back_reset: a message this many seconds older than the newest of its stream
            clears the buffers (time jumped back); None disables it.

    Raises:
        ValueError: non-positive slop, queue_size < 1, period_margin outside [0, 1).
    """

    def __init__(self, slop: float, queue_size: int,
                 callback: Callable[[Any, Any, PairInfo], None], *,
                 offset: float = 0.0, period_margin: float = 0.75,
                 jump_back_reset: Optional[float] = 1.0) -> None:
        if not slop > 0:
            raise ValueError(f"slop must be > 0 seconds, got {slop}")
        if int(queue_size) < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        if not 0.0 <= period_margin < 1.0:
            raise ValueError(f"period_margin must be in [0, 1), got {period_margin}")
        if jump_back_reset is not None and not jump_back_reset > 0:
            raise ValueError(f"jump_back_reset must be > 0 seconds or None, "
                             f"got {jump_back_reset}")
        self.slop = float(slop)
        self.offset = float(offset)
        self.queue_size = int(queue_size)
        self.period_margin = float(period_margin)
        self.jump_back_reset = jump_back_reset
        self._callback = callback
        self._lock = threading.Lock()
        self._streams = (_Stream(), _Stream())
        self._outbox: Deque[Tuple[Any, Any, PairInfo]] = collections.deque()
        self._delivering = False
        self._pairs = 0
        self._resets = 0
        self._sum_abs_offset = 0.0
        self._sum_offset = 0.0
        self._last_offset: Optional[float] = None

    # ----------------------------------------------------------------- public API
    def add_a(self, msg: Any, stamp: float) -> None:
        """Add a stream-A message with header stamp ``stamp`` (seconds)."""
        self._add(_A, msg, float(stamp))

    def add_b(self, msg: Any, stamp: float) -> None:
        """Add a stream-B message with header stamp ``stamp`` (seconds)."""
        self._add(_B, msg, float(stamp))

    def flush(self) -> None:
        """Emit every pair that the buffered messages allow, without waiting for more.

        For the end of a recording; messages left without a partner stay buffered.
        """
        with self._lock:
            self._outbox.extend(self._match(final=True))
            if not self._claim_delivery():
                return
        self._deliver()

    def reset(self, clear_stats: bool = False) -> None:
        """Drop every buffered message (not counted as drops) and the timing history.

        Args:
            clear_stats: also zero the counters in :attr:`stats`.
        """
        with self._lock:
            for stream in self._streams:
                stream.clear()
            if clear_stats:
                for stream in self._streams:
                    stream.dropped = stream.overflow = stream.out_of_order = 0
                self._pairs = self._resets = 0
                self._sum_abs_offset = self._sum_offset = 0.0
                self._last_offset = None

    @property
    def stats(self) -> SyncStats:
        """A consistent snapshot of the counters."""
        with self._lock:
            a, b = self._streams
            return SyncStats(
                pairs=self._pairs, dropped_a=a.dropped, dropped_b=b.dropped,
                overflow_a=a.overflow, overflow_b=b.overflow,
                out_of_order_a=a.out_of_order, out_of_order_b=b.out_of_order,
                resets=self._resets, last_offset=self._last_offset,
                mean_abs_offset=(self._sum_abs_offset / self._pairs) if self._pairs else None,
                mean_offset=(self._sum_offset / self._pairs) if self._pairs else None,
                pending_a=len(a.stamps), pending_b=len(b.stamps))

    # ----------------------------------------------------------------- internals
    def _add(self, which: int, msg: Any, stamp: float) -> None:
        with self._lock:
            stream = self._streams[which]
            original_stamp = stamp
            if which == _B:
                stamp -= self.offset  # matching happens on offset-corrected stamps
            if (self.jump_back_reset is not None and stream.newest is not None
                    and stamp < stream.newest - self.jump_back_reset):
                self._resets += 1
                for each in self._streams:
                    each.dropped += each.clear()
            if stream.last_paired is not None and stamp <= stream.last_paired:
                stream.dropped += 1
                stream.out_of_order += 1
                return
            stream.insert(stamp, original_stamp, msg)
            self._outbox.extend(self._match(final=False))
            while len(stream.stamps) > self.queue_size:
                stream.pop_oldest()
                stream.dropped += 1
                stream.overflow += 1
            if not self._claim_delivery():
                return
        self._deliver()

    def _match(self, final: bool) -> List[Tuple[Any, Any, PairInfo]]:
        """Emit the certain pairs at the head of the queues (lock held)."""
        out: List[Tuple[Any, Any, PairInfo]] = []
        a, b = self._streams
        while a.stamps and b.stamps:
            old_i = _A if a.stamps[0] <= b.stamps[0] else _B
            old, new = self._streams[old_i], self._streams[1 - old_i]
            x, y = old.stamps[0], new.stamps[0]
            gap = y - x
            if gap > self.slop:  # rule 1: nothing can come closer to x than y
                old.pop_oldest()
                old.dropped += 1
                continue
            if old.nearest_distance(y) < gap:  # rule 2: y prefers a later message
                old.pop_oldest()
                old.dropped += 1
                continue
            assert old.newest is not None
            horizon = old.newest + old.min_period(self.period_margin)
            if not final and gap > 0 and horizon - y < gap:  # rule 3: wait
                break
            stamp_x, msg_x = old.pop_oldest()
            stamp_y, msg_y = new.pop_oldest()
            old.last_paired, new.last_paired = x, y
            if old_i == _A:
                stamp_a, stamp_b, msg_a, msg_b = stamp_x, stamp_y, msg_x, msg_y
            else:
                stamp_a, stamp_b, msg_a, msg_b = stamp_y, stamp_x, msg_y, msg_x
            info = PairInfo(stamp_a=stamp_a, stamp_b=stamp_b, index=self._pairs)
            self._pairs += 1
            self._last_offset = info.offset
            self._sum_abs_offset += abs(info.offset)
            self._sum_offset += info.offset
            out.append((msg_a, msg_b, info))
        return out

    def _claim_delivery(self) -> bool:
        """Become the deliverer if pairs are waiting and nobody delivers (lock held)."""
        if self._delivering or not self._outbox:
            return False
        self._delivering = True
        return True

    def _deliver(self) -> None:
        """Call the callback for queued pairs until none is left (lock not held)."""
        try:
            while True:
                with self._lock:
                    if not self._outbox:
                        self._delivering = False
                        return
                    msg_a, msg_b, info = self._outbox.popleft()
                self._callback(msg_a, msg_b, info)
        except BaseException:
            with self._lock:
                self._delivering = False
            raise


class LatestPairSlot(Generic[T]):
    """A one-item mailbox that keeps only the newest item (e.g. an RGB-T pair).

    The synchroniser's callback ``put``s each pair; the tracking thread ``take``s the
    newest. When the tracker is slower than the cameras, older pairs are overwritten
    (counted) instead of queueing, so latency stays bounded by one tracker step.
    Thread-safe.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Optional[T] = None
        self._full = False
        self.puts = 0
        self.taken = 0
        self.overwritten = 0

    def put(self, item: T) -> bool:
        """Store ``item``, replacing any untaken one; return True if one was replaced."""
        with self._cond:
            replaced = self._full
            if replaced:
                self.overwritten += 1
            self._item = item
            self._full = True
            self.puts += 1
            self._cond.notify()
            return replaced

    def take(self, timeout: Optional[float] = 0.0) -> Optional[T]:
        """Remove and return the newest item, or None if there is none.

        Args:
            timeout: seconds to wait for an item; 0 (default) returns at once, None waits
                until one arrives.
        """
        with self._cond:
            if not self._full and timeout != 0.0:
                self._cond.wait_for(lambda: self._full, timeout=timeout)
            if not self._full:
                return None
            item = self._item
            self._item = None
            self._full = False
            self.taken += 1
            return item

    def clear(self) -> None:
        """Discard an untaken item (not counted as overwritten)."""
        with self._cond:
            self._item = None
            self._full = False


class PairHistory(Generic[T]):
    """The last ``maxlen`` items by stamp, to find the one nearest a given stamp.

    The node keeps recent pairs here so an init request stamped with an earlier frame's
    time is applied to that frame. Thread-safe; stamps may arrive out of order.

    Args:
        maxlen: items kept (>= 1); the oldest stamp is evicted first.
    """

    def __init__(self, maxlen: int) -> None:
        if int(maxlen) < 1:
            raise ValueError(f"maxlen must be >= 1, got {maxlen}")
        self.maxlen = int(maxlen)
        self._lock = threading.Lock()
        self._stamps: List[float] = []
        self._items: List[T] = []

    def add(self, stamp: float, item: T) -> None:
        """Record ``item`` under ``stamp`` (seconds)."""
        with self._lock:
            index = bisect.bisect_right(self._stamps, stamp)
            self._stamps.insert(index, float(stamp))
            self._items.insert(index, item)
            if len(self._stamps) > self.maxlen:
                del self._stamps[0]
                del self._items[0]

    def newest_stamp(self) -> Optional[float]:
        """The largest stamp held, or None when empty."""
        with self._lock:
            return self._stamps[-1] if self._stamps else None

    def nearest(self, stamp: float,
                max_distance: Optional[float] = None) -> Optional[Tuple[float, T]]:
        """The (stamp, item) whose stamp is closest to ``stamp``; ties go to the older.

        Args:
            stamp: seconds.
            max_distance: if given, return None when the closest is farther than this.

        Returns:
            ``(stored_stamp, item)`` or None if empty (or nothing within max_distance).
        """
        with self._lock:
            if not self._stamps:
                return None
            index = bisect.bisect_left(self._stamps, stamp)
            candidates = [i for i in (index - 1, index) if 0 <= i < len(self._stamps)]
            best = min(candidates, key=lambda i: abs(self._stamps[i] - stamp))
            if max_distance is not None and abs(self._stamps[best] - stamp) > max_distance:
                return None
            return self._stamps[best], self._items[best]

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._stamps.clear()
            self._items.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._stamps)
