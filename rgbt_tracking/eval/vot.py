"""VOT's reset-based ("supervised") protocol and its measures: accuracy, robustness, EAO.

VOT-RGBT2019 (the protocol the mfDiMP paper reports) and VOT-TIR2015/2016 ran the VOT
"baseline" experiment of the MATLAB toolkit (github.com/votchallenge/toolkit-legacy):

* ``stacks/stack_vot2019_rgbtir.m``, ``stacks/stack_vottir2015.m``,
  ``stacks/stack_vottir2016.m``: ``type = 'supervised'``,
  ``repetitions = 15``, ``burnin = 10``, ``skip_initialize = 5``, ``failure_overlap = 0``.
* ``experiment/experiment_supervised.m``: the tracker is initialised on frame 1 with the
  ground truth; on every later frame the overlap of its region with the ground truth is
  computed *within the image bounds* (``bounds = [width, height] - 1``, the last pixel
  index); when it is ``<= failure_overlap`` (no overlap at all) the frame is marked as a
  failure and the tracker is re-initialised from the ground truth ``skip_initialize = 5``
  frames later. The trajectory stores ``1`` on (re)initialisation frames, ``2`` on failure
  frames, ``0`` on the skipped frames in between, and the region elsewhere.
* ``analysis/estimate_accuracy.m`` (and pysot's ``calculate_accuracy``): accuracy is the mean
  overlap over frames with a defined overlap; the ``burnin = 10`` frames from each
  (re)initialisation -- the initialisation frame and the 9 frames after it -- are left out.
* ``analysis/analyze_accuracy_robustness.m``: per frame the overlap is averaged over the
  repetitions; the accuracy of a set of sequences is the mean over all their frames
  (pooled); robustness is the number of failures (summed over sequences, averaged over
  repetitions), "normalized" by dividing by the number of frames.
* ``report/report_ar.m``: the tables report the *weighted mean* over the per-frame visual
  attribute tags (``camera_motion``, ``dynamics_change``, ``occlusion``, ``size_change``,
  ``motion_change``, ``empty`` for VOT-RGBT2019), weights = frames carrying the tag; A-R
  plots show ``exp(-S * failures / frames)`` with sensitivity ``S = 30``. The VOT
  organisers' definitions (votchallenge-help, Alan Lukežič): "failure rate: 100 * (total
  number of failures) / (total number of frames) ... average number of failures on 100
  frames"; "robustness: exp(-S * failures / frames)". The mfDiMP paper's Tables 1-2 report
  "EAO, normalized weighted mean of accuracy (A), and normalized weighted mean of
  robustness score (R)" (R lower is better, 0.228 for mfDiMP): that is the tag-weighted
  failure rate per 100 frames, :func:`tag_weighted_accuracy_robustness`.
* ``analysis/estimate_expected_overlap.m`` (aggregation ``'pooled'``, the default in
  ``analyze_expected_overlap.m``): every run is cut at each failure into fragments that
  start at an (re)initialisation frame and end at the next re-initialisation frame; the
  overlaps (undefined ones as 0) fill the fragment and it is padded with zeros (the tracker
  failed: it would have overlap 0 from then on). The last fragment of a run is padded with
  NaN instead (we do not know how it would have continued), as is a run without failures.
  Each fragment is weighted by ``1 / repetitions`` of its sequence. The expected overlap for
  length ``Ns`` is the weighted mean, over fragments defined at frame ``Ns``, of the mean
  overlap on frames 2..Ns (the initialisation frame excluded); ``Phi(1) = 1``.
* ``analysis/analyze_average_expected_overlap.m``: EAO is the mean of ``Phi(Ns)`` over
  ``Ns in [low, high]``, an interval estimated from the lengths of the dataset's sequences:
  a Gaussian kernel density (``utilities/gmm_estimate.m``: Kristan's bandwidth estimator on
  the spherised lengths) tabulated on ``1..max length``, normalised, and grown from its
  mode towards the larger neighbour until it holds ``0.5`` of the mass (``find_range``).
  For the RGB challenges pysot hard-codes the published intervals (VOT2016 [108, 371],
  VOT2017/2018 [100, 356], VOT2019 [46, 291]); we found no published interval for
  VOT-RGBT2019 and compute it from the sequence lengths with :func:`eao_interval`.

Overlap. VOT computes the region overlap on rasterised masks clipped to the image (trax
``region.c`` ``compute_polygon_overlap``); we compute the exact area of the clipped
polygons (Sutherland-Hodgman clipping, :func:`region_overlap`). They differ by the pixel
quantisation of the masks: in our simulation of the legacy rasteriser, per frame about 0.02
on average (up to 0.1) for 20-px targets and 0.008 (up to 0.05) for 50-px targets, with
little bias (-0.002 and 0.0000 on average), so averages such as accuracy and EAO move by
that bias, 0.002 at most; a failure test can differ only when the true overlap is within a
pixel of zero.
``bounds=(W, H)`` clips to ``[0, W] x [0, H]``, the area covered by pixel indices
``0..W-1`` that the toolkit's ``bounds = [W, H] - 1`` denotes. The bounds apply to the
failure test, the accuracy and the EAO overlaps alike (pysot's ``eao_benchmark.py`` passes
``bound=(width - 1, height - 1)`` for EAO as well). A rectangle (x, y, w, h) is the
polygon with corners x..x+w, y..y+h (trax ``region_convert`` in legacy rasterisation).
A polygon ground truth is given to a box tracker as its axis-aligned bounding box
(``region_convert`` POLYGON -> RECTANGLE: min/max of the corners).

The VOT2020+ anchor-based protocol (VOT-RGBT2020 onwards) is a different procedure and is
not implemented here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import (Any, Callable, Dict, List, Mapping, Optional, Protocol, Sequence, Tuple,
                    Union)

import numpy as np

# Trajectory codes (VOT's special regions, plus TRACKED for a frame holding a region).
SKIPPED = 0        # VOT "0": no output (frames between a failure and the re-initialisation)
INITIALIZED = 1    # VOT "1": (re)initialisation frame
FAILED = 2         # VOT "2": failure frame
TRACKED = 3        # a predicted region

# VOT2019 / VOT-RGBT2019 / VOT-TIR2016 "baseline" parameters (toolkit-legacy stacks/).
SKIP_INITIALIZE = 5
BURNIN = 10
FAILURE_OVERLAP = 0.0
REPETITIONS = 15
AR_SENSITIVITY = 30.0      # report_ar.m 'report_ar_sensitivity'
VOT_RGBT2019_TAGS: Tuple[str, ...] = ("camera_motion", "dynamics_change", "occlusion",
                                      "size_change", "motion_change", "empty")

Region = Union[Sequence[float], np.ndarray]
Size = Tuple[float, float]


# --------------------------------------------------------------------------- geometry

def region_to_polygon(region: Region) -> np.ndarray:
    """Corners of a region as a (K, 2) float64 array.

    Args:
        region: (x, y, w, h) rectangle, or a polygon ``x1 y1 x2 y2 ... xK yK`` (K >= 3),
            pixels.

    Returns:
        (K, 2) points; a rectangle gives its 4 corners (x..x+w, y..y+h).
    """
    r = np.asarray(region, dtype=np.float64).reshape(-1)
    if r.size == 4:
        x, y, w, h = r
        return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])
    if r.size >= 6 and r.size % 2 == 0:
        return r.reshape(-1, 2)
    raise ValueError(f"a region is 4 numbers (x, y, w, h) or an even number >= 6 of polygon "
                     f"coordinates, got {r.size}")


def _signed_area(poly: np.ndarray) -> float:
    if len(poly) < 3:
        return 0.0
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def polygon_area(poly: Any) -> float:
    """Area of a simple polygon (shoelace formula), square pixels.

    Args:
        poly: (K, 2) points in order (either orientation).
    """
    return abs(_signed_area(np.asarray(poly, dtype=np.float64).reshape(-1, 2)))


def is_convex(poly: Any, tol: float = 1e-9) -> bool:
    """Whether a polygon (K, 2) is convex (collinear points allowed)."""
    p = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
    if len(p) < 3:
        return True
    d1 = np.roll(p, -1, axis=0) - p
    d2 = np.roll(d1, -1, axis=0)
    cross = d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]
    scale = tol * max(1.0, float(np.abs(p).max()) ** 2)
    return bool(np.all(cross >= -scale) or np.all(cross <= scale))


def clip_polygon(subject: Any, clip: Any) -> np.ndarray:
    """Part of ``subject`` inside the convex polygon ``clip`` (Sutherland-Hodgman).

    Args:
        subject: (K, 2) polygon, any simple polygon.
        clip: (L, 2) convex polygon, either orientation.

    Returns:
        (M, 2) polygon of the intersection (M = 0 when empty). For a concave subject the
        result may contain zero-width bridges; its area is still the intersection's.
    """
    out = np.asarray(subject, dtype=np.float64).reshape(-1, 2)
    c = np.asarray(clip, dtype=np.float64).reshape(-1, 2)
    if _signed_area(c) < 0:
        c = c[::-1]
    for i in range(len(c)):
        if len(out) == 0:
            break
        a, b = c[i], c[(i + 1) % len(c)]
        edge = b - a
        # > 0: left of a->b, inside a counter-clockwise clip polygon.
        side = edge[0] * (out[:, 1] - a[1]) - edge[1] * (out[:, 0] - a[0])
        points: List[np.ndarray] = []
        n = len(out)
        for j in range(n):
            cur, prev = out[j], out[j - 1]
            s_cur, s_prev = side[j], side[j - 1]
            if s_cur >= 0:
                if s_prev < 0:
                    points.append(prev + (cur - prev) * (s_prev / (s_prev - s_cur)))
                points.append(cur)
            elif s_prev >= 0:
                points.append(prev + (cur - prev) * (s_prev / (s_prev - s_cur)))
        out = np.array(points).reshape(-1, 2)
    return out


def _bounds_polygon(bounds: Size) -> np.ndarray:
    w, h = float(bounds[0]), float(bounds[1])
    return np.array([[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]])


def region_overlap(a: Region, b: Region, bounds: Optional[Size] = None) -> float:
    """Intersection over union of two regions, as VOT's ``region_overlap``.

    Args:
        a, b: (x, y, w, h) rectangles or ``x1 y1 ... xK yK`` polygons, pixels. At least one
            of the two must be convex (a rectangle always is; VOT's ground-truth polygons
            are rotated rectangles).
        bounds: image (width, height); both regions are clipped to ``[0, W] x [0, H]``
            first (VOT: ``bounds = [width, height] - 1`` in pixel indices). None: no
            clipping.

    Returns:
        IoU in [0, 1]; 0 for an empty union, a region with no area, or a non-finite
        coordinate (a tracker that returned no box has failed).
    """
    ra = np.asarray(a, dtype=np.float64).reshape(-1)
    rb = np.asarray(b, dtype=np.float64).reshape(-1)
    if not (np.all(np.isfinite(ra)) and np.all(np.isfinite(rb))):
        return 0.0
    for r in (ra, rb):
        if r.size == 4 and (r[2] <= 0 or r[3] <= 0):
            return 0.0
    if ra.size == 4 and rb.size == 4:
        return _box_overlap(ra, rb, bounds)
    pa, pb = region_to_polygon(ra), region_to_polygon(rb)
    if bounds is not None:
        box = _bounds_polygon(bounds)
        pa, pb = clip_polygon(pa, box), clip_polygon(pb, box)
    area_a, area_b = polygon_area(pa), polygon_area(pb)
    if area_a <= 0 or area_b <= 0:
        return 0.0
    if is_convex(pb):
        inter = polygon_area(clip_polygon(pa, pb))
    elif is_convex(pa):
        inter = polygon_area(clip_polygon(pb, pa))
    else:
        raise ValueError("region_overlap needs at least one convex region")
    union = area_a + area_b - inter
    return float(min(1.0, max(0.0, inter / union))) if union > 0 else 0.0


def _box_overlap(a: np.ndarray, b: np.ndarray, bounds: Optional[Size]) -> float:
    """IoU of two (x, y, w, h) boxes (w, h > 0) after clipping to the bounds."""
    ax0, ay0, ax1, ay1 = a[0], a[1], a[0] + a[2], a[1] + a[3]
    bx0, by0, bx1, by1 = b[0], b[1], b[0] + b[2], b[1] + b[3]
    if bounds is not None:
        w, h = float(bounds[0]), float(bounds[1])
        ax0, ax1, bx0, bx1 = (min(max(v, 0.0), w) for v in (ax0, ax1, bx0, bx1))
        ay0, ay1, by0, by1 = (min(max(v, 0.0), h) for v in (ay0, ay1, by0, by1))
    area_a = (ax1 - ax0) * (ay1 - ay0)
    area_b = (bx1 - bx0) * (by1 - by0)
    if area_a <= 0 or area_b <= 0:
        return 0.0
    inter = max(0.0, min(ax1, bx1) - max(ax0, bx0)) * max(0.0, min(ay1, by1) - max(ay0, by0))
    union = area_a + area_b - inter
    return float(min(1.0, max(0.0, inter / union))) if union > 0 else 0.0


def region_bounding_box(region: Region) -> Tuple[float, float, float, float]:
    """Axis-aligned bounding box (x, y, w, h) of a region: what a box tracker is given
    when the ground truth is a polygon (trax ``region_convert``: min/max of the corners)."""
    p = region_to_polygon(region)
    x0, y0 = p.min(axis=0)
    x1, y1 = p.max(axis=0)
    return (float(x0), float(y0), float(x1 - x0), float(y1 - y0))


def _region_valid(region: Region) -> bool:
    r = np.asarray(region, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(r)):
        return False
    if r.size == 4:
        return bool(r[2] > 0 and r[3] > 0)
    return polygon_area(region_to_polygon(r)) > 0


# --------------------------------------------------------------------------- runs

@dataclass
class SupervisedRun:
    """One reset-based run of a tracker over a sequence.

    Attributes:
        codes: (N,) int8 per frame: :data:`TRACKED`, :data:`INITIALIZED`, :data:`FAILED`
            or :data:`SKIPPED`.
        boxes: (N, 4) float64 predicted (x, y, w, h) on TRACKED and FAILED frames (the box
            that failed), NaN elsewhere.
    """

    codes: np.ndarray
    boxes: np.ndarray

    def __post_init__(self) -> None:
        self.codes = np.asarray(self.codes, dtype=np.int8).reshape(-1)
        self.boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        if len(self.codes) != len(self.boxes):
            raise ValueError(f"{len(self.codes)} codes but {len(self.boxes)} boxes")

    def __len__(self) -> int:
        return int(self.codes.shape[0])

    @property
    def failures(self) -> np.ndarray:
        """(F,) 0-based indices of the failure frames."""
        return np.flatnonzero(self.codes == FAILED)

    @property
    def num_failures(self) -> int:
        """Number of failures in this run."""
        return int(np.count_nonzero(self.codes == FAILED))

    def to_trajectory(self) -> List[List[float]]:
        """The VOT trajectory: ``[1]``, ``[2]``, ``[0]`` or ``[x, y, w, h]`` per frame."""
        out: List[List[float]] = []
        for code, box in zip(self.codes, self.boxes):
            out.append([float(v) for v in box] if code == TRACKED else [int(code)])
        return out

    @classmethod
    def from_trajectory(cls, rows: Sequence[Sequence[float]]) -> "SupervisedRun":
        """Parse a VOT trajectory (a toolkit result file read row by row).

        Args:
            rows: per frame a 1-element row (0 skipped, 1 initialisation, 2 failure) or a
                region (4 numbers, or a polygon, kept as its bounding box).
        """
        codes = np.full(len(rows), TRACKED, dtype=np.int8)
        boxes = np.full((len(rows), 4), np.nan)
        for i, row in enumerate(rows):
            values = np.asarray(row, dtype=np.float64).reshape(-1)
            if values.size == 1:
                code = int(values[0])
                if code not in (SKIPPED, INITIALIZED, FAILED):
                    raise ValueError(f"frame {i}: unknown VOT code {code}")
                codes[i] = code
            else:
                boxes[i] = region_bounding_box(values)
        return cls(codes, boxes)


@dataclass
class SequenceRuns:
    """The supervised runs of one tracker on one sequence, with what scoring needs.

    Attributes:
        name: sequence name.
        groundtruth: (N, 4) boxes or (N, 2K) polygons, pixels.
        runs: the repetitions (all of length N).
        image_size: (width, height) for VOT's bounds, or None for no clipping.
        tags: optional per-frame attribute tags, name -> (N,) bool (for the tag-weighted
            A-R of :func:`tag_weighted_accuracy_robustness`).
    """

    name: str
    groundtruth: np.ndarray
    runs: List[SupervisedRun]
    image_size: Optional[Size] = None
    tags: Optional[Mapping[str, np.ndarray]] = None

    def __post_init__(self) -> None:
        self.groundtruth = np.asarray(self.groundtruth, dtype=np.float64)
        if self.groundtruth.ndim != 2 or self.groundtruth.shape[1] < 4:
            raise ValueError(f"{self.name}: ground truth must be (N, 4) or (N, 2K), got "
                             f"{self.groundtruth.shape}")
        if not self.runs:
            raise ValueError(f"{self.name}: no run")
        for r in self.runs:
            if len(r) != len(self.groundtruth):
                raise ValueError(f"{self.name}: a run has {len(r)} frames but the ground "
                                 f"truth has {len(self.groundtruth)}")

    def __len__(self) -> int:
        return int(self.groundtruth.shape[0])


class SupervisedSequence(Protocol):
    """What :func:`run_supervised` needs from a sequence.

    ``len(seq)`` frames; ``seq.frame(i)`` returns ``(rgb, thermal)`` (either may be None);
    the ground truth is ``seq.polygons`` (N, 2K), ``seq.boxes`` (N, 4) or
    ``seq.groundtruth``; ``seq.image_size`` (width, height) and ``seq.name`` are optional.
    """

    def __len__(self) -> int: ...

    def frame(self, index: int) -> Tuple[Any, Any]: ...


def _sequence_groundtruth(sequence: Any) -> np.ndarray:
    for attr in ("polygons", "boxes", "groundtruth"):
        value = getattr(sequence, attr, None)
        if value is not None:
            gt = np.asarray(value, dtype=np.float64)
            if gt.ndim != 2 or gt.shape[1] < 4:
                raise ValueError(f"sequence.{attr} must be (N, 4) or (N, 2K), got {gt.shape}")
            return gt
    raise ValueError("the sequence has no ground truth (polygons, boxes or groundtruth)")


def _image_size(sequence: Any, rgb: Any, thermal: Any) -> Optional[Size]:
    size = getattr(sequence, "image_size", None)
    if size is not None:
        return (float(size[0]), float(size[1]))
    for image in (rgb, thermal):
        if image is not None:
            shape = np.shape(image)
            return (float(shape[1]), float(shape[0]))
    return None


def _box_of(output: Any) -> np.ndarray:
    box = getattr(output, "box", output)
    arr = np.asarray(box, dtype=np.float64).reshape(-1)
    if arr.size != 4:
        raise ValueError(f"tracker returned {arr.size} numbers; expected a box (x, y, w, h)")
    return arr


def run_supervised_once(tracker: Any, sequence: SupervisedSequence,
                        skip_initialize: int = SKIP_INITIALIZE,
                        failure_overlap: float = FAILURE_OVERLAP,
                        image_size: Optional[Size] = None) -> SupervisedRun:
    """One reset-based run (VOT ``experiment_supervised.m``).

    Frame 0 initialises the tracker with the ground truth's bounding box. On every other
    frame the tracker's box is compared with the ground truth within the image bounds;
    an overlap ``<= failure_overlap`` is a failure: the frame is marked FAILED and the
    tracker is initialised again on frame ``failure + skip_initialize`` (the frames between
    are SKIPPED). A frame whose ground truth is missing (non-finite or empty) cannot fail;
    an initialisation that falls on such a frame moves to the next frame with a ground
    truth (VOT-RGBT2019 annotates every frame, so this does not arise there).

    Args:
        tracker: ``initialize(rgb, thermal, box)`` and ``track(rgb, thermal)`` returning a
            box or an object with ``.box`` (the package's :class:`~rgbt_tracking.core.
            tracker.Tracker`). ``initialize`` must reset the tracker's state, as VOT's
            re-initialisation message does.
        sequence: see :class:`SupervisedSequence`.
        skip_initialize: frames from a failure to the re-initialisation (VOT: 5).
        failure_overlap: overlap at or below which the tracker has failed (VOT: 0).
        image_size: (width, height) for the bounds; default ``sequence.image_size`` or
            the first frame's size.

    Returns:
        :class:`SupervisedRun`.
    """
    gt = _sequence_groundtruth(sequence)
    n = len(sequence)
    if len(gt) != n:
        raise ValueError(f"the sequence has {n} frames but {len(gt)} ground-truth rows")
    if skip_initialize < 1:
        raise ValueError(f"skip_initialize must be >= 1, got {skip_initialize}")
    codes = np.full(n, SKIPPED, dtype=np.int8)
    boxes = np.full((n, 4), np.nan)
    bounds = image_size
    i = 0
    need_init = True
    while i < n:
        if need_init:
            if not _region_valid(gt[i]):
                i += 1
                continue
            rgb, thermal = sequence.frame(i)
            if bounds is None:
                bounds = _image_size(sequence, rgb, thermal)
            tracker.initialize(rgb, thermal, region_bounding_box(gt[i]))
            codes[i] = INITIALIZED
            need_init = False
            i += 1
            continue
        rgb, thermal = sequence.frame(i)
        box = _box_of(tracker.track(rgb, thermal))
        boxes[i] = box
        if _region_valid(gt[i]) and region_overlap(box, gt[i], bounds) <= failure_overlap:
            codes[i] = FAILED
            i += skip_initialize
            need_init = True
        else:
            codes[i] = TRACKED
            i += 1
    return SupervisedRun(codes, boxes)


def run_supervised(tracker_factory: Callable[[], Any], sequence: SupervisedSequence,
                   repetitions: int = 1, skip_initialize: int = SKIP_INITIALIZE,
                   failure_overlap: float = FAILURE_OVERLAP,
                   image_size: Optional[Size] = None,
                   stop_if_deterministic: bool = True) -> SequenceRuns:
    """Run VOT's reset-based experiment ``repetitions`` times on one sequence.

    Args:
        tracker_factory: returns a fresh tracker; called once per repetition.
        sequence: see :class:`SupervisedSequence`.
        repetitions: runs per sequence (VOT: 15 for stochastic trackers).
        skip_initialize, failure_overlap, image_size: see :func:`run_supervised_once`.
        stop_if_deterministic: stop after 3 identical runs, as the toolkit does
            (``experiment_supervised.m``: ``is_deterministic(sequence, 3, ...)``).

    Returns:
        :class:`SequenceRuns` with the runs, the ground truth and the bounds used.
    """
    if repetitions < 1:
        raise ValueError(f"repetitions must be >= 1, got {repetitions}")
    size = image_size
    if size is None:
        size = _image_size(sequence, *sequence.frame(0))
    if size is not None:
        size = (float(size[0]), float(size[1]))
    runs: List[SupervisedRun] = []
    for r in range(repetitions):
        if stop_if_deterministic and r == 3 and all(
                np.array_equal(runs[0].codes, x.codes)
                and np.array_equal(runs[0].boxes, x.boxes, equal_nan=True) for x in runs[1:3]):
            break
        runs.append(run_supervised_once(tracker_factory(), sequence, skip_initialize,
                                        failure_overlap, size))
    return SequenceRuns(str(getattr(sequence, "name", "sequence")),
                        _sequence_groundtruth(sequence), runs, size,
                        getattr(sequence, "tags", None))


# --------------------------------------------------------------------------- accuracy

def run_overlaps(run: SupervisedRun, groundtruth: Any, bounds: Optional[Size] = None,
                 burnin: int = 0) -> np.ndarray:
    """Per-frame overlaps of one run, NaN where VOT leaves the overlap undefined.

    Args:
        run: a :class:`SupervisedRun`.
        groundtruth: (N, 4) or (N, 2K) regions.
        bounds: image (width, height) or None.
        burnin: frames from each initialisation (the initialisation frame included) whose
            overlap is dropped (VOT accuracy: 10; EAO: 0).

    Returns:
        (N,) float64: the overlap on TRACKED frames with a ground truth, NaN on
        initialisation, failure and skipped frames, burn-in frames and frames without
        ground truth.
    """
    gt = np.asarray(groundtruth, dtype=np.float64)
    out = np.full(len(run), np.nan)
    mask = run.codes == TRACKED
    if burnin > 0:
        for start in np.flatnonzero(run.codes == INITIALIZED):
            mask[start:start + burnin] = False
    for i in np.flatnonzero(mask):
        if _region_valid(gt[i]):
            out[i] = region_overlap(run.boxes[i], gt[i], bounds)
    return out


@dataclass
class SequenceAccuracyRobustness:
    """A and R of one sequence (VOT ``calculate_accuracy_overlap``).

    Attributes:
        name: sequence name.
        overlaps: (N,) per-frame overlap averaged over the runs (NaN where undefined in
            every run).
        accuracy: mean of the defined per-frame overlaps (0 if none).
        failures: failures averaged over the runs.
        failures_per_run: failures of each run.
        num_frames: N.
    """

    name: str
    overlaps: np.ndarray
    accuracy: float
    failures: float
    failures_per_run: List[int]
    num_frames: int


def _nanmean_rows(stack: np.ndarray) -> np.ndarray:
    counts = np.sum(~np.isnan(stack), axis=0)
    sums = np.nansum(stack, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def sequence_accuracy_robustness(seq: SequenceRuns, burnin: int = BURNIN
                                 ) -> SequenceAccuracyRobustness:
    """Accuracy (burn-in excluded, runs averaged per frame) and failures of one sequence."""
    stack = np.stack([run_overlaps(r, seq.groundtruth, seq.image_size, burnin)
                      for r in seq.runs])
    per_frame = _nanmean_rows(stack)
    defined = per_frame[~np.isnan(per_frame)]
    failures = [r.num_failures for r in seq.runs]
    return SequenceAccuracyRobustness(seq.name, per_frame,
                                      float(defined.mean()) if defined.size else 0.0,
                                      float(np.mean(failures)), failures, len(seq))


def accuracy_robustness(sequences: Sequence[SequenceRuns], burnin: int = BURNIN,
                        sensitivity: float = AR_SENSITIVITY) -> Dict[str, float]:
    """VOT accuracy and robustness over a set of sequences (the "all" selector, pooled).

    Args:
        sequences: the runs of one tracker on each sequence.
        burnin: VOT: 10.
        sensitivity: S of the A-R plot's robustness ``exp(-S * failures / frames)``.

    Returns:
        ``accuracy``: mean per-frame overlap over all frames of all sequences (runs averaged
        per frame first); ``failures``: total failures (runs averaged per sequence);
        ``failure_rate``: ``100 * failures / frames`` (failures per 100 frames, the R of VOT
        result tables); ``robustness``: ``exp(-sensitivity * failures / frames)``;
        ``num_frames``.
    """
    if not sequences:
        raise ValueError("no sequence")
    per = [sequence_accuracy_robustness(s, burnin) for s in sequences]
    overlaps = np.concatenate([p.overlaps for p in per])
    defined = overlaps[~np.isnan(overlaps)]
    frames = sum(p.num_frames for p in per)
    failures = float(sum(p.failures for p in per))
    return {"accuracy": float(defined.mean()) if defined.size else 0.0,
            "failures": failures,
            "failure_rate": 100.0 * failures / frames,
            "robustness": float(math.exp(-sensitivity * failures / frames)),
            "num_frames": float(frames)}


def tag_weighted_accuracy_robustness(sequences: Sequence[SequenceRuns], burnin: int = BURNIN,
                                     tags: Optional[Sequence[str]] = None
                                     ) -> Dict[str, Any]:
    """A and R as the VOT report tables give them: weighted means over visual attributes.

    For each tag (VOT ``create_tag_selectors.m`` ``aggregate_for_tag``) the trajectory and
    ground truth of each sequence are restricted to the frames carrying the tag, the
    accuracy is computed on that restricted trajectory (the burn-in mask is applied to the
    *restricted* frame list, as the toolkit does), failures are those on tagged frames,
    and the tag's length is its number of frames. ``report_ar.m`` then weights the tags by
    their lengths: ``A = sum(A_t L_t) / sum(L_t)``, normalised robustness
    ``sum(F_t / L_t * L_t) / sum(L_t)``, reported here per 100 frames.

    Args:
        sequences: runs with ``tags`` (tag -> (N,) bool); a sequence without a tag counts
            as not carrying it.
        burnin: VOT: 10.
        tags: the tags to use; default the union of the sequences' tags.

    Returns:
        ``accuracy`` (A), ``failure_rate`` (R, failures per 100 tagged frames) and
        ``per_tag``: tag -> ``{"accuracy", "failures", "frames"}``.
    """
    names = list(tags) if tags is not None else sorted(
        {t for s in sequences for t in (s.tags or {})})
    if not names:
        raise ValueError("no tag: give SequenceRuns.tags or the tags argument")
    per_tag: Dict[str, Dict[str, float]] = {}
    for tag in names:
        overlaps: List[np.ndarray] = []
        failures = 0.0
        frames = 0
        for s in sequences:
            flags = None if s.tags is None else s.tags.get(tag)
            if flags is None:
                continue
            idx = np.flatnonzero(np.asarray(flags, dtype=bool).reshape(-1))
            if idx.size == 0:
                continue
            gt = s.groundtruth[idx]
            stack = []
            run_failures = []
            for r in s.runs:
                sub = SupervisedRun(r.codes[idx], r.boxes[idx])
                stack.append(run_overlaps(sub, gt, s.image_size, burnin))
                run_failures.append(sub.num_failures)
            overlaps.append(_nanmean_rows(np.stack(stack)))
            failures += float(np.mean(run_failures))
            frames += int(idx.size)
        values = np.concatenate(overlaps) if overlaps else np.zeros(0)
        defined = values[~np.isnan(values)]
        per_tag[tag] = {"accuracy": float(defined.mean()) if defined.size else 0.0,
                        "failures": failures, "frames": float(frames)}
    used = [t for t in names if per_tag[t]["frames"] > 0]
    if not used:
        raise ValueError("no frame carries any of the tags")
    total = sum(per_tag[t]["frames"] for t in used)
    accuracy = sum(per_tag[t]["accuracy"] * per_tag[t]["frames"] for t in used) / total
    rate = sum(per_tag[t]["failures"] for t in used) / total
    return {"accuracy": float(accuracy), "failure_rate": 100.0 * float(rate),
            "per_tag": per_tag}


def with_empty_tag(tags: Mapping[str, Any], name: str = "empty") -> Dict[str, np.ndarray]:
    """Add VOT's ``empty`` tag: the frames that carry none of the other tags."""
    arrays = {k: np.asarray(v, dtype=bool).reshape(-1) for k, v in tags.items()}
    if not arrays:
        raise ValueError("no tag given")
    arrays[name] = ~np.any(np.stack(list(arrays.values())), axis=0)
    return arrays


# --------------------------------------------------------------------------- EAO

def _fragments(seq: SequenceRuns, max_length: int, skip_initialize: int
               ) -> Tuple[List[np.ndarray], List[float]]:
    """Fragments of every run of a sequence (``estimate_expected_overlap.m``)."""
    rows: List[np.ndarray] = []
    weights: List[float] = []
    w = 1.0 / len(seq.runs)
    for run in seq.runs:
        seg = run_overlaps(run, seq.groundtruth, seq.image_size, burnin=0)
        n = len(seg)
        fails = run.failures
        if fails.size == 0:
            row = np.full(max_length, np.nan)
            k = min(n, max_length)
            part = seg[:k].copy()
            # The toolkit copies the overlaps as they are; only the first (initialisation)
            # frame is undefined there and it is never averaged. A frame without ground truth
            # would make the whole fragment NaN in MATLAB; we count it as 0 instead.
            part[1:][np.isnan(part[1:])] = 0.0
            row[:k] = part
            rows.append(row)
            weights.append(w)
            continue
        starts = [0] + [int(f) + skip_initialize for f in fails
                        if int(f) + skip_initialize <= n - 1]
        for a, b in zip(starts[:-1], starts[1:]):
            piece = np.nan_to_num(seg[a:b + 1], nan=0.0)
            row = np.zeros(max_length)
            k = min(len(piece), max_length)
            row[:k] = piece[:k]
            rows.append(row)
            weights.append(w)
        piece = np.nan_to_num(seg[starts[-1]:], nan=0.0)
        row = np.full(max_length, np.nan)
        k = min(len(piece), max_length)
        row[:k] = piece[:k]
        rows.append(row)
        weights.append(w)
    return rows, weights


def expected_overlap_curve(sequences: Sequence[SequenceRuns],
                           skip_initialize: int = SKIP_INITIALIZE,
                           max_length: Optional[int] = None) -> np.ndarray:
    """VOT's expected-overlap curve ``Phi(Ns)`` for ``Ns = 1..max_length``.

    Args:
        sequences: the runs of one tracker on each sequence.
        skip_initialize: frames from a failure to the re-initialisation (VOT: 5).
        max_length: longest length evaluated; default the longest sequence.

    Returns:
        (max_length,) float64; entry ``Ns - 1`` is ``Phi(Ns)``; ``Phi(1) = 1``; NaN where
        no fragment reaches ``Ns``.
    """
    if not sequences:
        raise ValueError("no sequence")
    length = int(max_length if max_length is not None else max(len(s) for s in sequences))
    rows: List[np.ndarray] = []
    weights: List[float] = []
    for s in sequences:
        r, w = _fragments(s, length, skip_initialize)
        rows += r
        weights += w
    frag = np.stack(rows)
    wts = np.asarray(weights)
    curve = np.full(length, np.nan)
    curve[0] = 1.0
    if length < 2:
        return curve
    cums = np.cumsum(np.nan_to_num(frag[:, 1:], nan=0.0), axis=1)   # sum of frames 2..Ns
    for ns in range(2, length + 1):
        usable = ~np.isnan(frag[:, ns - 1])
        if not usable.any():
            continue
        means = cums[usable, ns - 2] / (ns - 1)
        curve[ns - 1] = float(np.sum(means * wts[usable]) / np.sum(wts[usable]))
    return curve


def eao_interval(sequence_lengths: Sequence[int], threshold: float = 0.5
                 ) -> Tuple[int, int, int]:
    """The EAO interval ``[low, high]`` and its peak, from the dataset's sequence lengths.

    As ``analyze_average_expected_overlap.m``: a Gaussian kernel density over the lengths
    (``gmm_estimate.m``: one component per sequence, variance ``h^2 * var(lengths)`` with
    Kristan's AMISE bandwidth ``h = (N sqrt(4 pi) R)^(-1/5)`` on the spherised data, R the
    integrated squared second derivative of the density smoothed with the pilot
    ``G = (4 / (3 N))^(2/5)``), evaluated at lengths ``1..max``, normalised to sum 1; then
    ``find_range``: starting at the mode, extend towards the larger neighbour until the
    covered mass reaches ``threshold``.

    Args:
        sequence_lengths: frames per sequence (at least two distinct values).
        threshold: probability mass of the interval (VOT: 0.5).

    Returns:
        (low, high, peak), 1-based sequence lengths, inclusive.
    """
    x = np.asarray(sequence_lengths, dtype=np.float64).reshape(-1)
    if x.size < 2 or np.all(x == x[0]):
        raise ValueError("the EAO interval needs at least two different sequence lengths")
    n = x.size
    mean = x.mean()
    var = float(np.mean(x * x) - mean * mean)      # spherize(): weighted, population
    z = (x - mean) / math.sqrt(var)
    g = (4.0 / (3.0 * n)) ** 0.4                    # pilot bandwidth G, d = 1
    a = 1.0 / g                                     # inv(S1 + S2), S1 = G, S2 = 0
    dm = z[:, None] - z[None, :]
    m = dm * dm * a
    f_t = math.sqrt(1.0 / (2.0 * math.pi)) * math.sqrt(a) * np.exp(-0.5 * m)
    c = 2.0 * a * a * (1.0 - 2.0 * m) + (1.0 - m) ** 2 * a * a
    rf2 = float(np.sum(f_t * c)) / (n * n)          # all ordered pairs = eta-weighted sum
    h_amise = (1.0 / (n * math.sqrt(4.0 * math.pi) * rf2)) ** 0.2
    bandwidth_var = h_amise ** 2 * var              # back to lengths
    grid = np.arange(1, int(x.max()) + 1, dtype=np.float64)
    p = np.exp(-0.5 * (grid[:, None] - x[None, :]) ** 2 / bandwidth_var).sum(axis=1)
    p = p / p.sum()
    low, high = _find_range(p, threshold)
    peak = int(np.argmax(p)) + 1
    return low, high, peak


def _find_range(p: np.ndarray, density: float) -> Tuple[int, int]:
    """``find_range`` of ``analyze_average_expected_overlap.m``, 1-based."""
    length = len(p)
    low = high = int(np.argmax(p)) + 1
    for _ in range(length + 1):
        lo, hi = low - 1, high + 1
        sw_lo = sw_hi = False
        if lo <= 0:
            lo, sw_lo = 1, True
        if hi >= length:
            hi, sw_hi = length, True
        if sw_lo and sw_hi:
            return lo, hi
        if not sw_lo and not sw_hi:
            if p[lo - 1] > p[hi - 1]:
                low = lo
            else:
                high = hi
        elif not sw_lo:
            low = lo
        else:
            high = hi
        if p[low - 1:high].sum() >= density:
            return low, high
    return low, high


def expected_average_overlap(sequences: Sequence[SequenceRuns],
                             interval: Optional[Tuple[int, int]] = None,
                             skip_initialize: int = SKIP_INITIALIZE) -> Dict[str, Any]:
    """EAO: the expected-overlap curve averaged over the interval ``[low, high]``.

    Args:
        sequences: the runs of one tracker on each sequence of the dataset.
        interval: (low, high) 1-based, inclusive; default :func:`eao_interval` of these
            sequences' lengths (pass the published interval to compare with papers).
        skip_initialize: VOT: 5.

    Returns:
        ``eao`` (float), ``curve`` (list, ``Phi(1..max)``), ``low``, ``high``.
    """
    if interval is None:
        low, high, _ = eao_interval([len(s) for s in sequences])
    else:
        low, high = int(interval[0]), int(interval[1])
    if not 1 <= low <= high:
        raise ValueError(f"interval must satisfy 1 <= low <= high, got {(low, high)}")
    curve = expected_overlap_curve(sequences, skip_initialize,
                                   max_length=max(high, max(len(s) for s in sequences)))
    window = curve[low - 1:high]
    window = window[~np.isnan(window)]
    if window.size == 0:
        raise ValueError(f"no fragment reaches the interval {(low, high)}")
    return {"eao": float(window.mean()), "curve": [float(v) for v in curve],
            "low": low, "high": high}


def evaluate_supervised(sequences: Sequence[SequenceRuns],
                        interval: Optional[Tuple[int, int]] = None,
                        burnin: int = BURNIN, skip_initialize: int = SKIP_INITIALIZE
                        ) -> Dict[str, Any]:
    """EAO, accuracy and robustness of one tracker on a VOT dataset.

    Returns:
        ``EAO``; ``A`` and ``R`` as the VOT-RGBT2019 tables (tag-weighted, R in failures
        per 100 frames) when every sequence has tags, else pooled over all frames;
        ``A_pooled``, ``R_pooled``, ``failures`` (total, runs averaged), ``low``, ``high``.
    """
    eao = expected_average_overlap(sequences, interval, skip_initialize)
    pooled = accuracy_robustness(sequences, burnin)
    out: Dict[str, Any] = {"EAO": eao["eao"], "A_pooled": pooled["accuracy"],
                           "R_pooled": pooled["failure_rate"], "failures": pooled["failures"],
                           "low": eao["low"], "high": eao["high"]}
    if all(s.tags for s in sequences):
        tagged = tag_weighted_accuracy_robustness(sequences, burnin)
        out["A"], out["R"] = tagged["accuracy"], tagged["failure_rate"]
    else:
        out["A"], out["R"] = pooled["accuracy"], pooled["failure_rate"]
    return out
