"""Short trainings on generated sequences beat the untrained networks (slow: 4-6 minutes
each on two cores; ``pytest -m slow``): ``benchmarks/bench_training.py TASK`` for the
learned trackers with one training stage (GMMT's two stages: test/trackers/gmmt)."""
import pytest


@pytest.mark.slow
@pytest.mark.parametrize("task", ["mfdimp", "mmnet", "m5l", "cmi"])
def test_trained_tracker_beats_untrained_on_held_out_sequences(tmp_path, training_benchmark,
                                                               training_log_losses, task):
    out = tmp_path / "run"
    result = training_benchmark("bench_training.py", out, task)
    assert result["trained"]["track_auc"] > result["untrained"]["track_auc"] + 5.0
    assert (out / "training_log.png").is_file() and (out / "comparison.png").is_file()
    losses = training_log_losses(out, "total")
    assert losses[-1] < losses[0]
