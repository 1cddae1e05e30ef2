"""Tracking figures of a model under training, and the comparison chart of several models."""
from __future__ import annotations

import json

import numpy as np
import pytest

from rgbt_tracking import build_tracker
from rgbt_tracking.train.comparison import last_tracking_figures, plot_tracking_comparison
from rgbt_tracking.train.tracking_validation import score_tracker_on_sequences


class MovingSquare:
    """A warm square moving 2 px per frame right on a flat background (RGB and thermal)."""

    def __init__(self, name: str = "square", frames: int = 15, first_box_valid: bool = True):
        self.name = name
        self._count = frames
        self._boxes = np.array([[20.0 + 2 * i, 30.0, 16.0, 16.0] for i in range(frames)])
        if not first_box_valid:
            self._boxes[0] = np.nan

    def __len__(self) -> int:
        return self._count

    @property
    def boxes(self) -> np.ndarray:
        return self._boxes

    def frame(self, index: int):
        thermal = np.full((96, 128), 40, np.uint8)
        x, y, w, h = (int(v) for v in self._boxes[index]) if index else (20, 30, 16, 16)
        thermal[y:y + h, x:x + w] = 220
        thermal[y + 4:y + 8, x + 3:x + 12] = 120          # texture for the correlation filter
        rgb = np.repeat(thermal[:, :, None], 3, axis=2)
        return rgb, thermal


def test_a_tracker_that_follows_the_square_scores_high_and_counts_no_first_frame():
    figures = score_tracker_on_sequences(lambda: build_tracker("dcf"), [MovingSquare()])
    assert figures["track_precision"] == pytest.approx(100.0)
    assert figures["track_auc"] > 70.0


def test_the_figures_fall_when_the_predictions_are_wrong():
    # The square jumps out of the search region after frame 0: the same tracker loses it.
    class Jumping(MovingSquare):
        def frame(self, index):
            rgb, thermal = super().frame(index)
            return (np.roll(rgb, 50 if index else 0, axis=1),
                    np.roll(thermal, 50 if index else 0, axis=1))

    follows = score_tracker_on_sequences(lambda: build_tracker("dcf"), [MovingSquare()])
    lost = score_tracker_on_sequences(lambda: build_tracker("dcf"), [Jumping()])
    assert lost["track_auc"] < follows["track_auc"] - 40.0


def test_bad_validation_input_is_named():
    with pytest.raises(ValueError, match="no sequences"):
        score_tracker_on_sequences(lambda: build_tracker("dcf"), [])
    with pytest.raises(ValueError, match="square.*frame 0 has no box"):
        score_tracker_on_sequences(lambda: build_tracker("dcf"),
                                   [MovingSquare(first_box_valid=False)])


def test_last_tracking_figures_reads_the_last_epoch_that_has_them(tmp_path):
    log = tmp_path / "training_log.jsonl"
    records = [{"kind": "step", "losses": {"total": 1.0}},
               {"kind": "epoch", "validation": {"track_auc": 10.0, "track_precision": 20.0}},
               {"kind": "epoch", "validation": {"val_total": 0.5}},
               {"kind": "epoch", "validation": {"track_auc": 30.0, "track_precision": 40.0}},
               {"kind": "epoch", "validation": {}}]
    log.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    assert last_tracking_figures(log) == {"track_auc": 30.0, "track_precision": 40.0}
    log.write_text(json.dumps(records[0]) + "\n")
    with pytest.raises(ValueError, match="training_log.jsonl: no epoch record"):
        last_tracking_figures(log)


def test_comparison_plot_is_written_for_any_number_of_models(tmp_path):
    results = {name: {"track_auc": 10.0 * i, "track_precision": 12.0 * i}
               for i, name in enumerate(["untrained", "baseline", "raw", "diffusion"], 1)}
    path = tmp_path / "comparison.png"
    plot_tracking_comparison(results, path, "four models")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="no results"):
        plot_tracking_comparison({}, tmp_path / "none.png", "none")
