"""The short two-stage training on generated sequences beats the untrained networks (slow:
about 15 minutes on two cores; ``pytest -m slow``)."""
import pytest


@pytest.mark.slow
def test_trained_baseline_and_gmmt_variants_beat_untrained_ones(tmp_path, training_benchmark,
                                                    training_log_losses):
    out = tmp_path / "run"
    result = training_benchmark("bench_gmmt_training.py", out)
    for name in ("siam_rgbt", "gmmt_raw", "gmmt_diffusion"):
        figures = result[name]
        assert figures["trained"]["track_auc"] > figures["untrained"]["track_auc"] + 5.0, name
        assert (out / name / "training_log.png").is_file()
        losses = training_log_losses(out / name, "track" if name != "siam_rgbt" else "total")
        assert losses[-1] < losses[0], name
    assert (out / "comparison.png").is_file()
