"""Benchmark evaluation: run a tracker over a dataset, or score existing result files, under
the dataset's own conventions (``conventions.py``), into the JSON layout other tools read::

    {"dataset": str,
     "trackers": {NAME: {"overall": {"PR": float, "SR": float, "NPR": float | null},
                         "per_attribute": {ATTR: {"PR", "SR", "NPR", "num_sequences"}},
                         "per_sequence": {SEQ: {"PR", "SR", "NPR"}}}}}

Values are fractions in [0, 1]; PR/SR are the dataset's headline figures (MPR/MSR for
RGBT234, GTOT's 5 px precision and its success, LasHeR's PR/SR, ...).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence as Seq

import numpy as np

from rgbt_tracking.data.sequence import Sequence
from rgbt_tracking.eval.conventions import (
    SequenceScore,
    aggregate,
    aggregate_by_attribute,
    aggregate_curves,
    get_convention,
    score_sequence,
)
from rgbt_tracking.eval.progress import progress
from rgbt_tracking.eval.results import read_results, write_results

#: datasets whose invalid frames the reader turns into NaN rows but whose toolkit flags
#: them by ``any(gt <= 0)``: a zero row restores the toolkit's treatment (-1: a precision
#: hit, a success miss, kept in the denominator).
_ZERO_INVALID = {"lasher"}


def scoring_inputs(dataset: str, sequence: Sequence) -> Dict[str, Any]:
    """The ground-truth arguments of :func:`score_sequence` for one sequence."""
    convention = get_convention(dataset)
    stride = int(getattr(convention, "annotation_stride", 1) or 1)
    frames = np.arange(0, len(sequence), stride)

    def rows(boxes: Optional[np.ndarray]) -> Optional[np.ndarray]:
        if boxes is None:
            return None
        chosen = np.asarray(boxes, dtype=np.float64)[frames]
        if dataset in _ZERO_INVALID:
            chosen = np.where(np.isnan(chosen), 0.0, chosen)
        return chosen

    inputs: Dict[str, Any] = {"gt": rows(sequence.gt)}
    if convention.dual_ground_truth:
        inputs["gt_rgb"] = rows(sequence.gt_rgb)
        inputs["gt_thermal"] = rows(sequence.gt_thermal)
    if stride != 1:
        inputs["annotated_frames"] = frames
    return inputs


def read_results_folder(folder: Path | str, sequences: Seq[Sequence]) -> Dict[str, np.ndarray]:
    """``<folder>/<sequence>.txt`` for every sequence.

    Raises:
        FileNotFoundError: the folder, or result files of some sequences, are missing
            (the message lists up to ten of them).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"results folder not found: {folder}")
    results, missing = {}, []
    for sequence in sequences:
        path = folder / f"{sequence.name}.txt"
        if not path.is_file():
            missing.append(path.name)
            continue
        results[sequence.name] = read_results(path)[:, :4]
    if missing:
        shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise FileNotFoundError(f"{folder}: no results for {len(missing)} of "
                                f"{len(sequences)} sequences: {shown}")
    return results


def score_tracker(dataset: str, sequences: Seq[Sequence],
                  results: Mapping[str, np.ndarray]) -> Dict[str, Any]:
    """Overall, per-sequence and per-attribute figures plus the plot curves of one tracker.

    A result file SHORTER than its sequence (some published raw results lack the last
    frame or two) is scored with the missing frames as frames without a box (NaN rows)
    under the benchmark's conventions: failures (centre error infinite, overlap 0), except
    that the OTB-style thermal benchmarks (PTB-TIR, LSOTB-TIR) repeat the previous box, as
    their toolkit does for a missing box; listed in ``short_results`` (sequence -> missing
    rows). The
    ``rgbt`` toolkit instead scores only the frames present (``map`` over the shorter of
    the two); on mfDiMP's published RGBT210 files (3 of 210 files one row short) the two
    differ by less than 0.01 points.

    Raises:
        ValueError: a result file LONGER than its sequence (names it): most likely the
            results of another sequence.
    """
    scores: Dict[str, SequenceScore] = {}
    short: Dict[str, int] = {}
    for sequence in sequences:
        prediction = np.asarray(results[sequence.name], dtype=np.float64)
        if len(prediction) > len(sequence):
            raise ValueError(f"results of {sequence.name}: {len(prediction)} rows for "
                             f"{len(sequence)} frames")
        if len(prediction) < len(sequence):
            short[sequence.name] = len(sequence) - len(prediction)
            missing = np.full((len(sequence) - len(prediction), 4), np.nan)
            prediction = np.vstack([prediction.reshape(-1, 4), missing])
        scores[sequence.name] = score_sequence(dataset, prediction,
                                               **scoring_inputs(dataset, sequence))
    ordered = [scores[s.name] for s in sequences]
    attributes: Dict[str, Dict[str, Any]] = {}
    for sequence in sequences:
        for attribute, flags in sequence.attributes.items():
            flags = np.asarray(flags, dtype=bool)
            per_sequence = bool(flags.all() or not flags.any()) and flags.size == len(sequence)
            attributes.setdefault(attribute, {})[sequence.name] = (
                bool(flags.any()) if per_sequence else flags)
    return {
        "overall": aggregate(dataset, ordered),
        "per_sequence": {name: aggregate(dataset, [score]) for name, score in scores.items()},
        "per_attribute": aggregate_by_attribute(dataset, scores, attributes)
        if attributes else {},
        "curves": aggregate_curves(dataset, ordered),
        "short_results": short,
    }


def run_tracker_on_sequences(tracker_name: str, sequences: Seq[Sequence], out_folder: Path,
                             device: str = "cpu", overwrite: bool = False,
                             **overrides: Any) -> Dict[str, np.ndarray]:
    """Track every sequence from its ``init_box`` and write ``<out_folder>/<seq>.txt``.

    A sequence whose result file exists is not run again (resume an interrupted run);
    ``overwrite`` runs it anyway.
    """
    from rgbt_tracking.api import build_tracker

    out_folder = Path(out_folder)
    out_folder.mkdir(parents=True, exist_ok=True)
    results: Dict[str, np.ndarray] = {}
    for sequence in progress(sequences, total=len(sequences), desc=f"{tracker_name}"):
        path = out_folder / f"{sequence.name}.txt"
        if path.is_file() and not overwrite:
            results[sequence.name] = read_results(path)[:, :4]
            continue
        tracker = build_tracker(tracker_name, device=device, **overrides)
        rgb, thermal = sequence.frame(0)
        tracker.initialize(rgb, thermal, sequence.init_box)
        boxes: List[Seq[float]] = [sequence.init_box]
        for index in range(1, len(sequence)):
            rgb, thermal = sequence.frame(index)
            boxes.append(tracker.track(rgb, thermal).box)
        results[sequence.name] = np.asarray(boxes, dtype=np.float64)
        write_results(path, results[sequence.name])
    return results


def evaluation_report(dataset: str, per_tracker: Mapping[str, Mapping[str, Any]]
                      ) -> Dict[str, Any]:
    """The JSON contract (curves left out)."""
    return {"dataset": dataset,
            "trackers": {name: {key: value for key, value in scored.items()
                                if key not in ("curves", "short_results")}
                         for name, scored in per_tracker.items()}}


def plot_trackers(per_tracker: Mapping[str, Mapping[str, Any]], folder: Path | str,
                  dataset: str) -> Path:
    """Precision and success plots of several trackers on one dataset (PNG)."""
    from rgbt_tracking.eval.plots import plot_success_precision

    runs = {}
    for name, scored in per_tracker.items():
        curves = scored["curves"]
        runs[name] = {"success_auc": scored["overall"]["SR"],
                      "precision_20": scored["overall"]["PR"],
                      "success_curve": curves["success_curve"],
                      "precision_curve": curves["precision_curve"],
                      "thresholds_iou": curves["thresholds_iou"],
                      "thresholds_px": curves["thresholds_px"]}
    return plot_success_precision(runs, Path(folder) / f"{dataset}_precision_success.png",
                                  title=f"{dataset} ({curves['num_sequences']} sequences)")
