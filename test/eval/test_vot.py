"""VOT reset-based protocol and measures (rgbt_tracking.eval.vot), worked by hand."""
from __future__ import annotations

import math
from typing import List, Tuple

import numpy as np
import pytest

from rgbt_tracking.eval.vot import (
    FAILED,
    INITIALIZED,
    SKIPPED,
    TRACKED,
    SequenceRuns,
    SupervisedRun,
    accuracy_robustness,
    clip_polygon,
    eao_interval,
    evaluate_supervised,
    expected_average_overlap,
    expected_overlap_curve,
    is_convex,
    polygon_area,
    region_bounding_box,
    region_overlap,
    run_supervised,
    sequence_accuracy_robustness,
    tag_weighted_accuracy_robustness,
    with_empty_tag,
)

T, I, F, S = TRACKED, INITIALIZED, FAILED, SKIPPED
GT_BOX = (0.0, 0.0, 10.0, 10.0)


def _run(codes: List[int], ious: List[float]) -> SupervisedRun:
    """A run against the ground truth GT_BOX whose TRACKED frames have the given IoUs
    (a box (0, 0, 10 * iou, 10) overlaps GT_BOX by exactly iou)."""
    boxes = np.full((len(codes), 4), np.nan)
    for k, (code, iou) in enumerate(zip(codes, ious)):
        if code == T:
            boxes[k] = [0.0, 0.0, 10.0 * iou, 10.0]
    return SupervisedRun(np.array(codes), boxes)


def _seq(name: str, runs: List[SupervisedRun], tags=None) -> SequenceRuns:
    n = len(runs[0])
    return SequenceRuns(name, np.tile(GT_BOX, (n, 1)), runs, image_size=(100.0, 100.0),
                        tags=tags)


# ----------------------------------------------------------------- polygon overlap

def _raster_iou(a, b, bounds, step=0.05) -> float:
    """Brute force: sample the image on a fine grid, test points against both regions."""
    w, h = bounds
    xs, ys = np.meshgrid(np.arange(step / 2, w, step), np.arange(step / 2, h, step))
    pts = np.stack([xs.ravel(), ys.ravel()], axis=1)

    def inside(region):
        p = np.asarray(region, float).reshape(-1)
        if p.size == 4:
            x, y, bw, bh = p
            return (pts[:, 0] >= x) & (pts[:, 0] <= x + bw) & (pts[:, 1] >= y) & \
                (pts[:, 1] <= y + bh)
        poly = p.reshape(-1, 2)
        e1, e2 = poly[1] - poly[0], poly[2] - poly[1]
        if e1[0] * e2[1] - e1[1] * e2[0] < 0:              # make it counter-clockwise
            poly = poly[::-1]
        ok = np.ones(len(pts), bool)
        for k in range(len(poly)):
            e = poly[(k + 1) % len(poly)] - poly[k]
            d = pts - poly[k]
            ok &= e[0] * d[:, 1] - e[1] * d[:, 0] >= 0
        return ok

    ia, ib = inside(a), inside(b)
    union = np.count_nonzero(ia | ib)
    return np.count_nonzero(ia & ib) / union if union else 0.0


def _rotated_rect(cx, cy, w, h, angle) -> List[float]:
    c, s = math.cos(angle), math.sin(angle)
    corners = [(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)]
    return [v for dx, dy in corners for v in (cx + c * dx - s * dy, cy + s * dx + c * dy)]


def test_polygon_overlap_matches_a_rasterised_count():
    rng = np.random.default_rng(3)
    bounds = (40.0, 30.0)
    overlapping = 0
    for _ in range(20):
        gt = _rotated_rect(rng.uniform(5, 35), rng.uniform(5, 25), rng.uniform(6, 20),
                           rng.uniform(6, 20), rng.uniform(0, math.pi))
        bx, by = rng.uniform(-5, 35), rng.uniform(-5, 25)
        box = [bx, by, rng.uniform(5, 20), rng.uniform(5, 20)]
        exact = region_overlap(box, gt, bounds)
        assert exact == pytest.approx(_raster_iou(box, gt, bounds), abs=0.01)
        overlapping += exact > 0.05
        assert region_overlap(gt, box, bounds) == pytest.approx(exact, abs=1e-12)
    assert overlapping >= 8            # the draw is not all disjoint pairs


def test_overlap_hand_values_and_bounds():
    diamond = [5, 0, 10, 5, 5, 10, 0, 5]                 # area 50
    assert region_overlap([0, 0, 10, 10], diamond) == pytest.approx(0.5)
    assert region_overlap([0, 0, 5, 5], diamond) == pytest.approx(12.5 / 62.5)
    # A box half outside a 10 x 10 image: only the inside counts (VOT clips to bounds).
    assert region_overlap([5, 0, 10, 10], [0, 0, 10, 10]) == pytest.approx(50 / 150)
    assert region_overlap([5, 0, 10, 10], [0, 0, 10, 10], bounds=(10, 10)) == \
        pytest.approx(0.5)
    assert region_overlap([0, 0, 10, 10], [20, 20, 5, 5]) == 0.0
    assert region_overlap([np.nan, 0, 10, 10], [0, 0, 10, 10]) == 0.0
    assert region_overlap([0, 0, 0, 10], [0, 0, 10, 10]) == 0.0
    assert region_bounding_box(diamond) == (0.0, 0.0, 10.0, 10.0)


def test_clip_polygon_and_convexity():
    square = np.array([[0, 0], [4, 0], [4, 4], [0, 4]], float)
    shifted = square + 2
    inter = clip_polygon(square, shifted[::-1])          # clip orientation does not matter
    assert polygon_area(inter) == pytest.approx(4.0)
    assert len(clip_polygon(square, square + 10)) == 0
    assert is_convex(square) and not is_convex([[0, 0], [4, 0], [1, 1], [0, 4]])


# ----------------------------------------------------------------- accuracy, robustness

def test_accuracy_burn_in_skips_the_initialisation_frame_and_the_next_nine():
    ious = [0.0] + [0.2] * 9 + [0.9] * 6                  # frames 10..15 count
    run = _run([I] + [T] * 15, ious)
    result = sequence_accuracy_robustness(_seq("a", [run]), burnin=10)
    assert result.accuracy == pytest.approx(0.9)
    assert np.isnan(result.overlaps[:10]).all()
    assert sequence_accuracy_robustness(_seq("a", [run]), burnin=0).accuracy == \
        pytest.approx((9 * 0.2 + 6 * 0.9) / 15)


def test_accuracy_and_failures_average_over_runs():
    r1 = _run([I, T, T, F, S, I, T, T], [0, .4, .6, 0, 0, 0, 1., 1.])
    r2 = _run([I, T, T, T, T, T, T, T], [0, .8, .8, .8, .8, .8, .8, .8])
    result = sequence_accuracy_robustness(_seq("s", [r1, r2]), burnin=0)
    # per frame, runs averaged where defined: .6 .7 .8 .8 .8 .9 .9
    assert np.allclose(result.overlaps[1:], [.6, .7, .8, .8, .8, .9, .9])
    assert result.accuracy == pytest.approx(np.mean([.6, .7, .8, .8, .8, .9, .9]))
    assert result.failures == 0.5 and result.failures_per_run == [1, 0]
    overall = accuracy_robustness([_seq("s", [r1, r2])], burnin=0)
    assert overall["failure_rate"] == pytest.approx(100 * 0.5 / 8)
    assert overall["robustness"] == pytest.approx(math.exp(-30 * 0.5 / 8))


def test_tag_weighted_accuracy_robustness_as_the_vot_tables():
    run = _run([I, T, T, F, S, I, T, T, T, T], [0, .5, .5, 0, 0, 0, 1, 1, 1, 1])
    first = np.arange(10) < 5
    tags = {"occlusion": first, "camera_motion": ~first}
    seq = _seq("s", [run], tags)
    tagged = tag_weighted_accuracy_robustness([seq], burnin=0)
    assert tagged["per_tag"]["occlusion"] == {"accuracy": 0.5, "failures": 1.0, "frames": 5.0}
    assert tagged["per_tag"]["camera_motion"]["accuracy"] == 1.0
    assert tagged["accuracy"] == pytest.approx((0.5 * 5 + 1.0 * 5) / 10)
    assert tagged["failure_rate"] == pytest.approx(100 * 1 / 10)
    pooled = accuracy_robustness([seq], burnin=0)            # frames, not tags, weigh
    assert pooled["accuracy"] == pytest.approx((2 * 0.5 + 4 * 1.0) / 6)
    assert with_empty_tag({"a": [1, 0, 0], "b": [0, 1, 0]})["empty"].tolist() == \
        [False, False, True]


# ----------------------------------------------------------------- EAO

def _eao_example() -> List[SequenceRuns]:
    # A: 6 frames, no failure. B: 8 frames, failure at frame 2, re-initialised 2 frames
    # later (skip_initialize = 2 in this example).
    a = _run([I, T, T, T, T, T], [0, .8, .6, .4, .8, .6])
    b = _run([I, T, F, S, I, T, T, T], [0, .5, 0, 0, 0, 1., 1., .5])
    return [_seq("A", [a]), _seq("B", [b])]


def test_expected_overlap_curve_worked_by_hand():
    # Fragments (frame 1 of each, an initialisation, is never averaged):
    #   A  : [-, .8, .6, .4, .8, .6, NaN, NaN]   (no failure: NaN after the end)
    #   B1 : [-, .5, 0, 0, 0, 0, 0, 0]            (ends in a failure: zeros)
    #   B2 : [-, 1, 1, .5, NaN, NaN, NaN, NaN]    (last fragment: NaN after the end)
    curve = expected_overlap_curve(_eao_example(), skip_initialize=2)
    expected = [
        1.0,
        (.8 + .5 + 1.0) / 3,                              # Ns = 2
        ((.8 + .6) / 2 + .5 / 2 + 2.0 / 2) / 3,           # Ns = 3
        (1.8 / 3 + .5 / 3 + 2.5 / 3) / 3,                 # Ns = 4
        (2.6 / 4 + .5 / 4) / 2,                           # Ns = 5: B2 has ended
        (3.2 / 5 + .5 / 5) / 2,                           # Ns = 6
        .5 / 6,                                           # Ns = 7: only B1
        .5 / 7,                                           # Ns = 8
    ]
    assert np.allclose(curve, expected)
    eao = expected_average_overlap(_eao_example(), interval=(2, 4), skip_initialize=2)
    assert eao["eao"] == pytest.approx(np.mean(expected[1:4]))
    assert eao["eao"] == pytest.approx(0.65)


def test_repetitions_weigh_each_sequence_once():
    seqs = _eao_example()
    doubled = [SequenceRuns(s.name, s.groundtruth, s.runs * 2, s.image_size) for s in seqs]
    assert np.allclose(expected_overlap_curve(doubled, skip_initialize=2),
                       expected_overlap_curve(seqs, skip_initialize=2))
    # Three more copies of A would triple A's say if runs were not weighted 1/repetitions.
    more_a = [SequenceRuns("A", seqs[0].groundtruth, seqs[0].runs * 4, (100.0, 100.0)),
              seqs[1]]
    assert np.allclose(expected_overlap_curve(more_a, skip_initialize=2),
                       expected_overlap_curve(seqs, skip_initialize=2))


def test_failure_near_the_end_keeps_the_last_fragment_open():
    # Failure at frame 5 of 7 with skip 5: no re-initialisation fits, the fragment from
    # frame 0 is the last one and is NaN-padded (not zero-padded) past frame 7.
    run = _run([I, T, T, T, T, F, S], [0, .5, .5, .5, .5, 0, 0])
    curve = expected_overlap_curve([_seq("x", [run])], skip_initialize=5, max_length=9)
    assert curve[6] == pytest.approx((4 * .5) / 6)
    assert np.isnan(curve[7:]).all()


def _literal_interval(lengths, threshold=0.5):
    """A loop-by-loop transcription of the toolkit's gmm_estimate / find_range (1-D)."""
    n = len(lengths)
    mu = sum(lengths) / n
    var = sum(x * x for x in lengths) / n - mu * mu
    z = [(x - mu) / math.sqrt(var) for x in lengths]
    g = (4 / (3 * n)) ** (2 / 5)
    rf2 = 0.0
    for l1 in range(n):
        for l2 in range(l1, n):
            a = 1 / g
            m = (z[l1] - z[l2]) ** 2 * a
            f_t = (1 / (2 * math.pi)) ** 0.5 * math.sqrt(a) * math.exp(-0.5 * m)
            c = 2 * a * a * (1 - 2 * m) + (1 - m) ** 2 * a ** 2
            rf2 += f_t * c * (1 / n) * (1 / n) * (1 if l1 == l2 else 2)
    h = (1 / n / (math.sqrt(4 * math.pi) * rf2)) ** (1 / 5)
    cov = h * h * var
    p = [sum(math.exp(-0.5 * (x - mu_i) ** 2 / cov) / math.sqrt(2 * math.pi * cov) / n
             for mu_i in lengths) for x in range(1, max(lengths) + 1)]
    total = sum(p)
    p = [v / total for v in p]
    peak = p.index(max(p)) + 1
    low = high = peak
    for _ in range(len(p) + 1):
        lo, hi, sw_lo, sw_hi = low - 1, high + 1, False, False
        if lo <= 0:
            lo, sw_lo = 1, True
        if hi >= len(p):
            hi, sw_hi = len(p), True
        if sw_lo and sw_hi:
            return lo, hi, peak
        if not sw_lo and not sw_hi:
            if p[lo - 1] > p[hi - 1]:
                low = lo
            else:
                high = hi
        elif not sw_lo:
            low = lo
        else:
            high = hi
        if sum(p[low - 1:high]) >= threshold:
            return low, high, peak
    return low, high, peak


def test_eao_interval_follows_the_toolkit_kde():
    lengths = [120, 340, 95, 410, 260, 180, 150, 620, 75, 300, 230, 205]
    low, high, peak = eao_interval(lengths)
    assert (low, high, peak) == _literal_interval(lengths)
    assert low <= peak <= high
    with pytest.raises(ValueError, match="different"):
        eao_interval([100, 100, 100])


# ----------------------------------------------------------------- the runner

class _Sequence:
    """A still 20 x 20 target in a 200 x 200 image; frame(i) hands out the frame index."""

    name = "still"
    image_size = (200, 200)

    def __init__(self, n: int = 40) -> None:
        self.boxes = np.tile([50.0, 50.0, 20.0, 20.0], (n, 1))

    def __len__(self) -> int:
        return len(self.boxes)

    def frame(self, index: int) -> Tuple[int, None]:
        return index, None


class _DriftingTracker:
    """Moves its box 3 px to the right on every frame after (re)initialisation."""

    def __init__(self, log: List[int]) -> None:
        self.log = log
        self.box = None

    def initialize(self, rgb, thermal, box) -> None:
        self.log.append(rgb)
        self.box = np.asarray(box, float)

    def track(self, rgb, thermal):
        self.box = self.box + [3.0, 0, 0, 0]
        return self.box


def test_supervised_runner_fails_and_reinitialises_five_frames_later():
    inits: List[int] = []
    seq_runs = run_supervised(lambda: _DriftingTracker(inits), _Sequence(40))
    run = seq_runs.runs[0]
    # Shift 3k px after k frames: no overlap with the 20-px target from k = 7 on.
    assert run.failures.tolist() == [7, 19, 31]
    assert inits == [0, 12, 24, 36]                       # failure + 5
    assert run.codes[7:13].tolist() == [F, S, S, S, S, I]
    assert (run.codes[1:7] == T).all() and (run.codes[37:] == T).all()
    assert np.allclose(run.boxes[1], [53, 50, 20, 20])
    assert seq_runs.image_size == (200.0, 200.0)

    # Accuracy with a 3-frame burn-in: frames init + 3 .. failure - 1 count, shift 9..18 px,
    # IoU (20 - s) / (20 + s); the last segment only reaches frame 39 (shift 9).
    per_segment = [11 / 29, 8 / 32, 5 / 35, 2 / 38]
    expected = (3 * sum(per_segment) + 11 / 29) / 13
    assert sequence_accuracy_robustness(seq_runs, burnin=3).accuracy == pytest.approx(expected)
    # VOT's 10-frame burn-in leaves no frame here: accuracy 0, as the toolkit reports.
    assert sequence_accuracy_robustness(seq_runs).accuracy == 0.0
    assert sequence_accuracy_robustness(seq_runs).failures == 3


def test_deterministic_tracker_stops_after_three_identical_runs():
    seq_runs = run_supervised(lambda: _DriftingTracker([]), _Sequence(20), repetitions=15)
    assert len(seq_runs.runs) == 3
    seq_runs = run_supervised(lambda: _DriftingTracker([]), _Sequence(20), repetitions=5,
                              stop_if_deterministic=False)
    assert len(seq_runs.runs) == 5


def test_polygon_ground_truth_initialises_with_its_bounding_box():
    class Rotated(_Sequence):
        def __init__(self):
            self.polygons = np.tile(_rotated_rect(60, 60, 20, 20, math.pi / 4), (10, 1))

        def __len__(self):
            return len(self.polygons)

    inits: List[np.ndarray] = []

    class Recorder(_DriftingTracker):
        def initialize(self, rgb, thermal, box):
            inits.append(np.asarray(box))
            super().initialize(rgb, thermal, box)

    run_supervised(lambda: Recorder([]), Rotated())
    half = 10 * math.sqrt(2)
    assert np.allclose(inits[0], [60 - half, 60 - half, 2 * half, 2 * half])


def test_evaluate_supervised_and_trajectory_round_trip():
    seqs = _eao_example()
    result = evaluate_supervised(seqs, interval=(2, 4), burnin=0, skip_initialize=2)
    assert result["EAO"] == pytest.approx(0.65)
    assert result["failures"] == 1.0 and result["R"] == pytest.approx(100 / 14)
    run = seqs[1].runs[0]
    back = SupervisedRun.from_trajectory(run.to_trajectory())
    assert np.array_equal(back.codes, run.codes)
    assert np.allclose(back.boxes, run.boxes, equal_nan=True)
    with pytest.raises(ValueError, match="code"):
        SupervisedRun.from_trajectory([[1], [7]])
