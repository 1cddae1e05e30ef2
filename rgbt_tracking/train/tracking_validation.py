"""Tracking figures of a model under training: run its online tracker on held-out sequences.

Every learned tracker's ``TrainingTask.validate`` reports the same two figures, so the
training logs of different trackers compare directly: ``track_auc`` (success AUC) and
``track_precision`` (precision at 20 px), both in percent, pooled over the frames of all
sequences (the first frame, given to the tracker, is not scored).
"""
from __future__ import annotations

from typing import Callable, Dict, Iterable, List

import numpy as np

from rgbt_tracking.core.tracker import Tracker
from rgbt_tracking.eval.metrics import center_errors, overlaps, precision_at, success_auc
from rgbt_tracking.train.sources import TrainingSequence


def score_tracker_on_sequences(make_tracker: Callable[[], Tracker],
                               sequences: Iterable[TrainingSequence]) -> Dict[str, float]:
    """Track every sequence from its first ground-truth box with a fresh tracker.

    Args:
        make_tracker: returns a new tracker per sequence (the model inside may be shared:
            it is only read).
        sequences: annotated sequences; frame 0 must have a box.

    Returns:
        ``{"track_auc": percent, "track_precision": percent}``.

    Raises:
        ValueError: no sequences, or a sequence whose first frame has no box.
    """
    ious: List[np.ndarray] = []
    errors: List[np.ndarray] = []
    for sequence in sequences:
        boxes = np.asarray(sequence.boxes, dtype=np.float64)
        if not np.all(np.isfinite(boxes[0])):
            raise ValueError(f"validation sequence {sequence.name}: frame 0 has no box")
        tracker = make_tracker()
        rgb, thermal = sequence.frame(0)
        tracker.initialize(rgb, thermal, boxes[0])
        predictions = [boxes[0]]
        for index in range(1, len(sequence)):
            rgb, thermal = sequence.frame(index)
            predictions.append(np.asarray(tracker.track(rgb, thermal).box, dtype=np.float64))
        pred = np.stack(predictions)[1:]
        ious.append(overlaps(pred, boxes[1:]))
        errors.append(center_errors(pred, boxes[1:]))
    if not ious:
        raise ValueError("tracking validation: no sequences")
    return {"track_auc": 100.0 * success_auc(np.concatenate(ious)),
            "track_precision": 100.0 * precision_at(np.concatenate(errors))}
