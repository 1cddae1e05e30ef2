"""ApproximatePairSynchronizer, LatestPairSlot and PairHistory (pure Python, no ROS)."""
import threading
import time

import numpy as np
import pytest

from rgbt_tracking.ros.synchronizer import (ApproximatePairSynchronizer, LatestPairSlot,
                                            PairHistory)
from rgbt_tracking.ros.detection_messages import stamp_to_seconds as stamp_seconds

PERIOD = 1.0 / 30.0


class Recorder:
    """Callback that records (msg_a, msg_b, info) and the event count at emission."""

    def __init__(self):
        self.pairs = []
        self.event = 0

    def __call__(self, msg_a, msg_b, info):
        self.pairs.append((msg_a, msg_b, info, self.event))


def _camera_events(n, seed, offset_b=0.003, stamp_jitter=0.002, latency_a=0.004,
                   latency_b=0.015, latency_jitter=0.003, lost=()):
    """Arrival-ordered (arrival, stream, frame, stamp) events of two jittered 30 Hz cameras.

    Frame k of both cameras shows the same instant; the stamps differ by ``offset_b`` plus
    jitter, and arrivals come later by a per-stream latency (in order within a stream).
    ``lost`` holds (stream, frame) that never arrive.
    """
    rng = np.random.default_rng(seed)
    events = []
    for k in range(n):
        t = 1000.0 + k * PERIOD
        for stream, offset, latency in (("a", 0.0, latency_a), ("b", offset_b, latency_b)):
            stamp = t + offset + rng.normal(0.0, stamp_jitter)
            arrival = stamp + latency + rng.uniform(0.0, latency_jitter)
            if (stream, k) not in lost:
                events.append((arrival, stream, k, stamp))
    events.sort()
    return events


def _feed(sync, recorder, events):
    for index, (_, stream, frame, stamp) in enumerate(events):
        recorder.event = index
        (sync.add_a if stream == "a" else sync.add_b)((stream, frame), stamp)


def _first_found_pairs(events, slop):
    """A model of message_filters' Python policy: pair on arrival with the closest
    message already buffered within slop, never waiting for a closer one."""
    queues = {"a": [], "b": []}
    pairs = []
    for _, stream, frame, stamp in events:
        other = queues["b" if stream == "a" else "a"]
        near = [m for m in other if abs(m[1] - stamp) <= slop]
        if near:
            best = min(near, key=lambda m: abs(m[1] - stamp))
            other.remove(best)
            pairs.append(tuple(sorted([(stream, frame), (best[0], best[2])])))
        else:
            queues[stream].append((stream, stamp, frame))
    return pairs


def test_jittered_30hz_streams_pair_every_frame_with_its_partner_promptly():
    events = _camera_events(300, seed=1)
    recorder = Recorder()
    sync = ApproximatePairSynchronizer(0.05, 5, recorder)
    _feed(sync, recorder, events)
    sync.flush()
    frames = [(a[1], b[1]) for a, b, _, _ in recorder.pairs]
    assert frames == [(k, k) for k in range(300)]
    stats = sync.stats
    assert (stats.pairs, stats.dropped_a, stats.dropped_b) == (300, 0, 0)
    assert stats.mean_abs_offset == pytest.approx(0.003, abs=0.0015)
    arrival_index = {(s, k): i for i, (_, s, k, _) in enumerate(events)}
    immediate = 0
    for (_, k), _, info, emitted_at in recorder.pairs[:-1]:
        # emitted no later than frame k+1 of the later stream
        assert emitted_at <= max(arrival_index[("a", k + 1)], arrival_index[("b", k + 1)])
        if emitted_at == max(arrival_index[("a", k)], arrival_index[("b", k)]):
            immediate += 1
    # with ~3 ms offsets most pairs leave as soon as their second message arrives
    assert immediate >= 0.8 * 299


def test_known_stamp_offset_between_unsynchronised_cameras():
    # B stamps 15 ms after A: nearly half a period, so raw closeness is ambiguous.
    events = _camera_events(300, seed=3, offset_b=0.015)
    recorder = Recorder()
    sync = ApproximatePairSynchronizer(0.05, 5, recorder, offset=0.015)
    _feed(sync, recorder, events)
    sync.flush()
    assert [(a[1], b[1]) for a, b, _, _ in recorder.pairs] == [(k, k) for k in range(300)]
    stats = sync.stats
    assert stats.dropped_a == stats.dropped_b == 0
    assert stats.mean_offset == pytest.approx(0.015, abs=0.001)
    assert recorder.pairs[0][2].offset == pytest.approx(0.015, abs=0.01)  # true stamps


def test_closest_not_first_after_a_lost_frame():
    # Frame 10 of A is lost; slop (50 ms) exceeds the frame period.
    events = _camera_events(40, seed=2, lost={("a", 10)})
    first_found = _first_found_pairs(events, 0.05)
    # the greedy policy pairs A11 with the stale B10 and stays one frame off afterwards
    assert (("a", 11), ("b", 10)) in first_found
    assert sum(a[1] != b[1] for a, b in first_found) > 20

    recorder = Recorder()
    sync = ApproximatePairSynchronizer(0.05, 5, recorder)
    _feed(sync, recorder, events)
    sync.flush()
    frames = [(a[1], b[1]) for a, b, _, _ in recorder.pairs]
    assert frames == [(k, k) for k in range(40) if k != 10]
    assert sync.stats.dropped_b == 1 and sync.stats.dropped_a == 0


def test_waits_for_closer_partner_and_emits_exact_match_at_once():
    recorder = Recorder()
    sync = ApproximatePairSynchronizer(0.05, 5, recorder)
    sync.add_a("a0", 10.000)
    sync.add_b("b0", 10.030)  # within slop, but a closer A may still come
    assert recorder.pairs == []
    sync.add_a("a1", 10.029)  # it does: b0 prefers a1, a0 is dropped
    assert sync.stats.dropped_a == 1
    assert recorder.pairs == []  # still no rate estimate: an A at 10.0301 could come
    sync.add_a("a2", 10.063)  # A has moved past b0: (a1, b0) is certain
    assert [(a, b) for a, b, _, _ in recorder.pairs] == [("a1", "b0")]
    sync.add_b("b1", 10.063)  # exact match: out at once
    assert [(a, b) for a, b, _, _ in recorder.pairs][-1] == ("a2", "b1")
    info = recorder.pairs[-1][2]
    assert info.offset == 0.0 and info.index == 1


def test_different_rates_pair_each_slow_frame_with_nearest_fast_frame():
    recorder = Recorder()
    sync = ApproximatePairSynchronizer(0.02, 10, recorder)
    events = []
    for k in range(90):  # A at 30 Hz, B at 10 Hz, B stamps 2 ms late
        events.append((k * PERIOD, "a", k, k * PERIOD))
        if k % 3 == 0:
            events.append((k * PERIOD + 0.002, "b", k, k * PERIOD + 0.002))
    events.sort()
    _feed(sync, recorder, events)
    sync.flush()
    assert [(a[1], b[1]) for a, b, _, _ in recorder.pairs] == [(k, k) for k in range(0, 90, 3)]
    assert sync.stats.dropped_a >= 58


def test_drops_are_counted_overflow_and_beyond_slop():
    recorder = Recorder()
    sync = ApproximatePairSynchronizer(0.01, 3, recorder)
    for k in range(10):  # B is silent: A overflows its queue
        sync.add_a(k, k * PERIOD)
    stats = sync.stats
    assert (stats.dropped_a, stats.overflow_a, stats.pending_a) == (7, 7, 3)
    sync.add_b("far", 9 * PERIOD + 0.5)  # every buffered A is > slop older than it
    stats = sync.stats
    assert stats.dropped_a == 10 and stats.pairs == 0 and stats.pending_b == 1


def test_out_of_order_message_is_dropped_and_late_one_still_pairs():
    recorder = Recorder()
    sync = ApproximatePairSynchronizer(0.01, 5, recorder)
    sync.add_a("a0", 1.0)
    sync.add_b("b0", 1.0)
    sync.add_a("old", 0.999)  # older than the last paired A
    stats = sync.stats
    assert stats.dropped_a == 1 and stats.out_of_order_a == 1
    sync.add_b("b2", 1.0666)
    sync.add_b("b1", 1.0333)  # late, but newer than the last pair: kept
    sync.add_a("a1", 1.0334)
    sync.add_a("a2", 1.0667)
    sync.flush()
    assert [(a, b) for a, b, _, _ in recorder.pairs] == [("a0", "b0"), ("a1", "b1"),
                                                         ("a2", "b2")]


def test_backwards_time_jump_resets_instead_of_dropping_forever():
    recorder = Recorder()
    sync = ApproximatePairSynchronizer(0.01, 5, recorder)
    for k in range(5):
        sync.add_a(("first", k), 50.0 + k * PERIOD)
        sync.add_b(("first", k), 50.0 + k * PERIOD)
    for k in range(5):  # the bag loops: stamps restart 50 s earlier
        sync.add_a(("second", k), k * PERIOD)
        sync.add_b(("second", k), k * PERIOD)
    assert [a for a, _, _, _ in recorder.pairs][-5:] == [("second", k) for k in range(5)]
    assert sync.stats.resets == 1


def test_callback_may_feed_the_synchronizer_without_deadlock():
    pairs = []
    sync = None

    def callback(msg_a, msg_b, info):
        pairs.append((msg_a, msg_b))
        if msg_a == "a0":
            sync.add_a("a1", 2.0)  # re-entrant call from inside the callback
            sync.add_b("b1", 2.0)

    sync = ApproximatePairSynchronizer(0.01, 5, callback)
    worker = threading.Thread(target=lambda: (sync.add_a("a0", 1.0), sync.add_b("b0", 1.0)),
                              daemon=True)
    worker.start()
    worker.join(timeout=5.0)
    assert not worker.is_alive(), "deadlock"
    assert pairs == [("a0", "b0"), ("a1", "b1")]


def test_slow_callback_does_not_block_other_threads():
    release = threading.Event()
    entered = threading.Event()
    delivered = []

    def callback(msg_a, msg_b, info):
        if msg_a == 0:
            entered.set()
            release.wait(timeout=10.0)  # a slow tracker step
        delivered.append(msg_a)

    sync = ApproximatePairSynchronizer(0.01, 5, callback)
    sync.add_a(0, 1.0)
    slow = threading.Thread(target=sync.add_b, args=(0, 1.0), daemon=True)
    slow.start()
    assert entered.wait(timeout=5.0)  # the slow thread is now inside the callback
    start = time.perf_counter()
    for k in range(1, 4):
        sync.add_a(k, 1.0 + k)
        sync.add_b(k, 1.0 + k)
    elapsed = time.perf_counter() - start
    assert sync.stats.pairs == 4  # matched while the callback was still running
    assert elapsed < 5.0   # a blocked add_* would wait for release (10 s)
    assert delivered == []
    release.set()
    slow.join(timeout=5.0)
    assert delivered == [0, 1, 2, 3]  # delivered in order by the thread that delivers


def test_two_feeding_threads_get_every_pair_once_and_in_order():
    delivered = []
    # queues as long as the run: the threads are not paced, one may run far ahead
    sync = ApproximatePairSynchronizer(0.01, 500, lambda a, b, info: delivered.append(
        (a, b, info.index)))
    stamps = [100.0 + k * PERIOD for k in range(500)]

    def feed(add, jitter_seed):
        rng = np.random.default_rng(jitter_seed)
        for k, stamp in enumerate(stamps):
            add(k, stamp + rng.normal(0.0, 0.001))
            if k % 50 == 0:
                time.sleep(0.001)

    threads = [threading.Thread(target=feed, args=(sync.add_a, 1)),
               threading.Thread(target=feed, args=(sync.add_b, 2))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30.0)
    sync.flush()
    assert [(a, b) for a, b, _ in delivered] == [(k, k) for k in range(500)]
    assert [index for _, _, index in delivered] == list(range(500))


def test_exception_in_callback_does_not_wedge_the_synchronizer():
    calls = []

    def callback(msg_a, msg_b, info):
        calls.append(msg_a)
        if msg_a == 0:
            raise RuntimeError("user bug")

    sync = ApproximatePairSynchronizer(0.01, 5, callback)
    sync.add_a(0, 1.0)
    with pytest.raises(RuntimeError, match="user bug"):
        sync.add_b(0, 1.0)
    sync.add_a(1, 2.0)
    sync.add_b(1, 2.0)
    assert calls == [0, 1]


def test_reset_and_stats():
    recorder = Recorder()
    sync = ApproximatePairSynchronizer(0.01, 5, recorder)
    sync.add_a("a", 1.0)
    sync.add_b("b", 1.004)
    sync.flush()
    stats = sync.stats
    assert stats.pairs == 1 and stats.last_offset == pytest.approx(0.004)
    sync.add_a("pending", 2.0)
    sync.reset()
    assert sync.stats.pending_a == 0 and sync.stats.pairs == 1
    sync.add_a("older than before reset is fine", 0.5)
    assert sync.stats.out_of_order_a == 0
    sync.reset(clear_stats=True)
    assert sync.stats.pairs == 0 and sync.stats.mean_abs_offset is None


@pytest.mark.parametrize("kwargs", [dict(slop=0), dict(queue_size=0),
                                    dict(period_margin=1.0), dict(jump_back_reset=0)])
def test_invalid_arguments(kwargs):
    args = dict(slop=0.01, queue_size=5, callback=lambda *a: None)
    args.update(kwargs)
    with pytest.raises(ValueError):
        ApproximatePairSynchronizer(**args)


def test_stamp_seconds():
    class Time:
        sec, nanosec = 12, 500_000_000

    assert stamp_seconds(Time()) == 12.5


def test_latest_pair_slot_keeps_newest_and_counts_overwrites():
    slot = LatestPairSlot()
    assert slot.take() is None
    assert slot.put(("a0", "b0")) is False
    assert slot.put(("a1", "b1")) is True
    assert slot.put(("a2", "b2")) is True
    assert slot.take() == ("a2", "b2")
    assert slot.take() is None
    assert (slot.puts, slot.taken, slot.overwritten) == (3, 1, 2)
    slot.put("x")
    slot.clear()
    assert slot.take() is None and slot.overwritten == 2


def test_latest_pair_slot_take_waits_for_a_producer():
    slot = LatestPairSlot()
    assert slot.take(timeout=0.01) is None
    timer = threading.Timer(0.05, slot.put, args=("pair",))
    timer.start()
    assert slot.take(timeout=5.0) == "pair"
    timer.join()


def test_pair_history_nearest():
    history = PairHistory(maxlen=3)
    assert history.nearest(1.0) is None
    for stamp in (1.0, 2.0, 1.5, 3.0):  # out of order; 1.0 is evicted as the oldest
        history.add(stamp, f"pair@{stamp}")
    assert len(history) == 3
    assert history.nearest(0.0) == (1.5, "pair@1.5")
    assert history.nearest(1.8) == (2.0, "pair@2.0")
    assert history.nearest(2.5) == (2.0, "pair@2.0")  # tie goes to the older
    assert history.nearest(10.0) == (3.0, "pair@3.0")
    assert history.nearest(10.0, max_distance=1.0) is None
    history.clear()
    assert history.nearest(2.0) is None
