"""One-pass evaluation (OPE) metrics as the OTB / RGBT toolkits compute them.

Boxes are (x, y, w, h): top-left corner and size in pixels, arrays of shape (N, 4).

Conventions, checked against the public toolkits (OTB's MATLAB toolkit, pysot's
``toolkit/utils/statistics.py``, got10k, and the PyPI ``rgbt`` toolkit used for GTOT,
RGBT210, RGBT234 and LasHeR):

* **Overlap** is the intersection over union of the two rectangles, with areas ``w * h``.
  The toolkits that convert to inclusive corners (``x2 = x + w - 1``, the "+1 pixel"
  convention of OTB's MATLAB code and of ``rgbt``'s ``IoU``) add the 1 back when they take
  the intersection's width, so their IoU equals the continuous one used here (pysot and
  got10k compute it this way directly).
* **Centre error** is the Euclidean distance between box centres ``(x + w/2, y + h/2)``.
  Toolkits that use ``x + (w - 1)/2`` get the same distances (the -1/2 cancels).
* **Success curve**: fraction of frames whose IoU is *strictly greater* than each
  threshold of ``linspace(0, 1, 21)``; **success AUC** (OTB "area under curve", RGBT
  "SR"/"MSR") is the *mean* of these 21 values. Because ``IoU > 1.0`` never holds, a
  perfect tracker scores 20/21 ~= 0.952, exactly as in OTB, pysot, got10k and ``rgbt``;
  we keep this so that numbers compare with published ones.
* **Precision curve**: fraction of frames whose centre error is *at most* each threshold
  of ``0, 1, ..., 50`` pixels; **precision** (PR) is the value at 20 pixels.
* **Invalid ground truth** (a NaN, or w <= 0 or h <= 0, e.g. target absent) excludes the
  frame from every denominator. (The OTB and LasHeR toolkits instead keep such frames in
  the denominator, as a hit for precision and a miss for success; that and the other
  benchmark rules are in :mod:`rgbt_tracking.eval.conventions`.) A prediction that is not
  finite counts as a miss: IoU 0, centre error infinite.
* The first frame is scored like any other; the tracker's output there is its
  initialisation box. (OTB's toolkit and ``rgbt``'s PR/SR/NPR overwrite the first
  prediction with the ground truth, which makes no difference when the tracker reports
  its init box.)
* **Normalised precision** (LaSOT, Fan et al. CVPR 2019; used by LasHeR): the centre error
  measured in units of the ground-truth box size, ``|(c_p - c_g) / (w_g, h_g)|``, scored
  at thresholds ``linspace(0, 0.5, 51)``; the headline value is the one at 0.2
  (``rgbt`` 1.0.1 ``rgbt/metrics/metrics.py`` class ``NPR``: ``pr.mean(axis=0)[20]``).
* **Success area**: OTB and ``rgbt`` take the mean of the 21 success values; GTOT's
  toolkit (``rgbt`` ``MSR_GTOT``) integrates the curve with the trapezoid rule instead
  (:func:`success_area`).

These functions are the generic, convention-neutral building blocks. Each benchmark's exact
rules (which ground truth, first frame, invalid frames, pooling, rounding) are in
:mod:`rgbt_tracking.eval.conventions`; VOT's reset-based protocol and EAO are in
:mod:`rgbt_tracking.eval.vot`.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

import numpy as np

from rgbt_tracking.core.box import iou

IOU_THRESHOLDS = np.linspace(0.0, 1.0, 21)
PIXEL_THRESHOLDS = np.arange(0, 51, dtype=np.float64)
PRECISION_THRESHOLD_PX = 20.0
NORMALIZED_THRESHOLDS = np.linspace(0.0, 0.5, 51)
NORMALIZED_PRECISION_THRESHOLD = 0.2


def _as_boxes(boxes: Any, name: str) -> np.ndarray:
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.ndim == 1 and arr.shape[0] == 4:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{name} must be (N, 4) boxes (x, y, w, h), got shape {arr.shape}")
    return arr


def _pair(pred: Any, gt: Any) -> tuple:
    p = _as_boxes(pred, "pred")
    g = _as_boxes(gt, "gt")
    if len(p) != len(g):
        raise ValueError(f"pred has {len(p)} boxes but gt has {len(g)}; they must match "
                         f"frame for frame")
    return p, g


def valid_ground_truth(gt: Any) -> np.ndarray:
    """(N,) bool: frames whose ground truth is usable (all finite, w > 0 and h > 0).

    Args:
        gt: (N, 4) boxes (x, y, w, h), pixels.
    """
    g = _as_boxes(gt, "gt")
    return np.all(np.isfinite(g), axis=1) & (g[:, 2] > 0) & (g[:, 3] > 0)


def center_errors(pred: Any, gt: Any) -> np.ndarray:
    """Distance in pixels between predicted and true box centres.

    Args:
        pred, gt: (N, 4) float boxes (x, y, w, h), pixels; a single (4,) box is accepted.

    Returns:
        (N,) float64 pixels. NaN where the ground truth is invalid (see
        :func:`valid_ground_truth`); ``inf`` where the prediction is not finite.
    """
    p, g = _pair(pred, gt)
    cp = p[:, :2] + p[:, 2:] / 2.0
    cg = g[:, :2] + g[:, 2:] / 2.0
    with np.errstate(invalid="ignore"):
        err = np.hypot(cp[:, 0] - cg[:, 0], cp[:, 1] - cg[:, 1])
    err[~np.all(np.isfinite(p), axis=1)] = np.inf
    err[~valid_ground_truth(g)] = np.nan
    return err


def overlaps(pred: Any, gt: Any) -> np.ndarray:
    """Intersection over union of predicted and true boxes (see the module notes).

    Args:
        pred, gt: (N, 4) float boxes (x, y, w, h), pixels; a single (4,) box is accepted.

    Returns:
        (N,) float64 in [0, 1]. NaN where the ground truth is invalid; 0 where the
        prediction is not finite or has no area.
    """
    p, g = _pair(pred, gt)
    out = np.asarray(iou(p, g), dtype=np.float64).reshape(-1)
    out[~np.all(np.isfinite(p), axis=1)] = 0.0
    out[~valid_ground_truth(g)] = np.nan
    return out


def _scored(values: Any, name: str) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    v = v[~np.isnan(v)]
    if v.size == 0:
        raise ValueError(f"no valid frames to score in {name} (empty, or all NaN)")
    return v


def success_curve(ious: Any, thresholds: Sequence[float] = IOU_THRESHOLDS) -> np.ndarray:
    """Success plot: fraction of frames with IoU strictly above each threshold.

    Args:
        ious: (N,) IoU values; NaN entries (invalid ground truth) are left out.
        thresholds: IoU thresholds, default ``linspace(0, 1, 21)``.

    Returns:
        (len(thresholds),) float64 in [0, 1].
    """
    v = _scored(ious, "ious")
    thr = np.asarray(thresholds, dtype=np.float64)
    return (v[:, None] > thr[None, :]).mean(axis=0)


def success_auc(ious: Any, thresholds: Sequence[float] = IOU_THRESHOLDS) -> float:
    """Area under the success plot as OTB defines it: the mean of :func:`success_curve`
    over the thresholds (a perfect tracker gets 20/21 with the default 21 thresholds)."""
    return float(success_curve(ious, thresholds).mean())


def precision_curve(errors: Any, thresholds: Sequence[float] = PIXEL_THRESHOLDS,
                    inclusive: bool = True) -> np.ndarray:
    """Precision plot: fraction of frames whose centre error is at most each threshold.

    Args:
        errors: (N,) centre errors in pixels (or normalised errors, see
            :func:`normalized_center_errors`); NaN entries (invalid ground truth) are left
            out, ``inf`` counts as a miss.
        thresholds: thresholds, default 0, 1, ..., 50 pixels.
        inclusive: ``error <= threshold`` (OTB, RGBT234, LasHeR); False gives the strict
            ``error < threshold`` of GTOT's toolkit (``rgbt`` ``MPR_GTOT``).

    Returns:
        (len(thresholds),) float64 in [0, 1].
    """
    v = _scored(errors, "errors")
    thr = np.asarray(thresholds, dtype=np.float64)
    passed = (v[:, None] <= thr[None, :]) if inclusive else (v[:, None] < thr[None, :])
    return passed.mean(axis=0)


def precision_at(errors: Any, threshold: float = PRECISION_THRESHOLD_PX) -> float:
    """Fraction of (valid) frames whose centre error is at most ``threshold`` pixels."""
    return float(precision_curve(errors, [threshold])[0])


def normalized_center_errors(pred: Any, gt: Any) -> np.ndarray:
    """Centre error in units of the ground-truth size (LaSOT's normalised precision).

    ``sqrt(((cx_p - cx_g) / w_g)**2 + ((cy_p - cy_g) / h_g)**2)``: the centres are divided
    by the ground truth's width and height before the distance is taken, as LaSOT's MATLAB
    toolkit does (``calc_seq_err_robust`` with ``norm_dst``) and ``rgbt``'s
    ``utils.normalize_CLE`` (which adds 1e-8 to the size; see
    :mod:`rgbt_tracking.eval.conventions` for the toolkit-exact variant).

    Args:
        pred, gt: (N, 4) boxes (x, y, w, h), pixels.

    Returns:
        (N,) float64, dimensionless. NaN where the ground truth is invalid, ``inf`` where
        the prediction is not finite.
    """
    p, g = _pair(pred, gt)
    valid = valid_ground_truth(g)
    size = np.where(valid[:, None], g[:, 2:], 1.0)
    cp = p[:, :2] + p[:, 2:] / 2.0
    cg = g[:, :2] + g[:, 2:] / 2.0
    with np.errstate(invalid="ignore"):
        d = (cp - cg) / size
        err = np.hypot(d[:, 0], d[:, 1])
    err[~np.all(np.isfinite(p), axis=1)] = np.inf
    err[~valid] = np.nan
    return err


def success_area(curve: Any, thresholds: Sequence[float] = IOU_THRESHOLDS,
                 rule: str = "mean") -> float:
    """The single number summarising a success plot.

    Args:
        curve: (T,) success values at ``thresholds``.
        thresholds: the IoU thresholds of ``curve`` (used by the trapezoid rule).
        rule: ``"mean"``: the mean of the T values (OTB, pysot, ``rgbt`` ``MSR``/``SR``;
            a perfect tracker gets 20/21); ``"trapezoid"``: the trapezoid-rule integral
            over the thresholds (GTOT's toolkit, ``rgbt`` ``MSR_GTOT``; a perfect tracker
            gets 0.975).

    Returns:
        float in [0, 1].
    """
    c = np.asarray(curve, dtype=np.float64).reshape(-1)
    thr = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    if c.shape != thr.shape or c.size == 0:
        raise ValueError(f"curve has {c.size} values but there are {thr.size} thresholds")
    if rule == "mean":
        return float(c.mean())
    if rule == "trapezoid":
        return float(np.sum((c[1:] + c[:-1]) / 2.0 * np.diff(thr)))
    raise ValueError(f"rule must be 'mean' or 'trapezoid', got {rule!r}")


def evaluate_sequence(pred: Any, gt: Any, valid: Optional[Any] = None) -> Dict[str, Any]:
    """Success and precision of one tracking run on one sequence.

    Args:
        pred: (N, 4) predicted boxes (x, y, w, h), pixels.
        gt: (N, 4) ground-truth boxes; frames with invalid ground truth are excluded.
        valid: optional (N,) bool mask of frames to score (e.g. to skip frames without
            annotation); combined with the ground-truth validity.

    Returns:
        JSON-serialisable dict: ``success_auc`` (float), ``precision_20`` (float, centre
        error <= 20 px), ``num_frames`` (int, frames scored), ``success_curve`` (21
        floats), ``precision_curve`` (51 floats), ``thresholds_iou`` and
        ``thresholds_px`` (the curves' x values).

    Raises:
        ValueError: shapes disagree, or no frame is left to score.
    """
    p, g = _pair(pred, gt)
    mask = valid_ground_truth(g)
    if valid is not None:
        v = np.asarray(valid, dtype=bool).reshape(-1)
        if v.shape[0] != len(g):
            raise ValueError(f"valid has {v.shape[0]} entries but there are {len(g)} frames")
        mask &= v
    if not mask.any():
        raise ValueError("no frame has a valid ground truth to score")
    ious = overlaps(p[mask], g[mask])
    errors = center_errors(p[mask], g[mask])
    s_curve = success_curve(ious)
    p_curve = precision_curve(errors)
    return {
        "success_auc": float(s_curve.mean()),
        "precision_20": precision_at(errors, PRECISION_THRESHOLD_PX),
        "num_frames": int(mask.sum()),
        "success_curve": [float(x) for x in s_curve],
        "precision_curve": [float(x) for x in p_curve],
        "thresholds_iou": [float(x) for x in IOU_THRESHOLDS],
        "thresholds_px": [float(x) for x in PIXEL_THRESHOLDS],
    }
