"""Training sources: spec parsing, generated sequences and their cache, benchmark folders."""
from __future__ import annotations

import numpy as np
import pytest

from rgbt_tracking.data.synthetic import SyntheticConfig, generate_sequence, save_sequence
from rgbt_tracking.train import sources
from rgbt_tracking.train.sources import (
    SyntheticTrainingSequence,
    TrainingSequence,
    clear_generated_cache,
    open_training_sources,
    valid_frames,
)

SMALL = {"width": 96, "height": 64, "target_size": [16, 12], "num_frames": 50}


@pytest.fixture(autouse=True)
def _empty_memory_cache():
    clear_generated_cache()
    yield
    clear_generated_cache()


def test_generated_specs_give_one_sequence_per_seed_and_are_cached_on_disk(tmp_path,
                                                                          monkeypatch):
    found = open_training_sources([{"generated": {"count": 2, "seed": 5, **SMALL}}],
                                  cache_dir=tmp_path)
    assert [s.name.split("-")[1] for s in found] == ["seed5", "seed6"]
    assert all(isinstance(s, TrainingSequence) for s in found)
    direct = generate_sequence(SyntheticConfig.from_dict({**SMALL, "seed": 6}))
    rgb, thermal = found[1].frame(7)
    np.testing.assert_array_equal(rgb, direct.rgb[7])
    np.testing.assert_array_equal(thermal, direct.thermal[7])
    np.testing.assert_array_equal(found[1].boxes, direct.boxes)
    files = sorted(tmp_path.glob("synthetic-*.npz"))
    assert len(files) == 2
    stamps = [f.stat().st_mtime_ns for f in files]
    # From memory: the same arrays; from disk (memory cleared): equal frames, files kept.
    again = open_training_sources([{"generated": {"count": 2, "seed": 5, **SMALL}}],
                                  cache_dir=tmp_path)
    assert again[0].frame(0)[0] is found[0].frame(0)[0]
    clear_generated_cache()

    def fail(*args, **kwargs):
        raise AssertionError("rendered although the cache holds it")

    monkeypatch.setattr(sources, "generate_sequence", fail)
    loaded = open_training_sources([{"generated": {"count": 2, "seed": 5, **SMALL}}],
                                   cache_dir=tmp_path)
    np.testing.assert_array_equal(loaded[1].frame(7)[1], direct.thermal[7])
    assert loaded[1].synthetic.events == direct.events
    np.testing.assert_array_equal(loaded[1].synthetic.distractors["rgb_lookalike"],
                                  direct.distractors["rgb_lookalike"])
    assert [f.stat().st_mtime_ns for f in files] == stamps


def test_a_cache_file_with_other_content_is_an_error_and_kept(tmp_path):
    spec = [{"generated": {"count": 1, "seed": 1, **SMALL}}]
    open_training_sources(spec, cache_dir=tmp_path)
    (cache_file,) = tmp_path.glob("synthetic-*.npz")
    other = tmp_path / "other"
    open_training_sources([{"generated": {"count": 1, "seed": 2, **SMALL}}], cache_dir=other)
    (other_file,) = other.glob("*.npz")
    cache_file.write_bytes(other_file.read_bytes())      # a file under the wrong name
    content = cache_file.read_bytes()
    clear_generated_cache()
    with pytest.raises(ValueError, match=f"{cache_file.name} holds another configuration"):
        open_training_sources(spec, cache_dir=tmp_path)
    cache_file.write_bytes(b"junk")
    with pytest.raises(ValueError, match=f"{cache_file.name} is not a readable"):
        open_training_sources(spec, cache_dir=tmp_path)
    assert cache_file.read_bytes() == b"junk" and content != b"junk"


def test_dataset_specs_open_benchmark_folders(tmp_path):
    sequence = generate_sequence(SyntheticConfig.from_dict({**SMALL, "seed": 9}))
    save_sequence(sequence, tmp_path / "root" / "car9")
    (found,) = open_training_sources([{"dataset": "rgbt234", "root": str(tmp_path / "root")}])
    assert found.name == "car9" and len(found) == 50
    assert isinstance(found, TrainingSequence)
    np.testing.assert_allclose(found.boxes, sequence.boxes, atol=0.006)   # 2 decimals
    rgb, thermal = found.frame(3)
    assert rgb.shape == (64, 96, 3) and thermal.shape == (64, 96)
    assert valid_frames(found).all()


@pytest.mark.parametrize("specs, message", [
    ([], "non-empty list"),
    (["lasher"], r"#0: expected a mapping"),
    ([{"dataset": "lasher", "root": "/x", "splt": "train"}], "#0: unknown keys splt"),
    ([{"dataset": "lasher"}], "needs 'root'"),
    ([{"datasets": "lasher"}], "expected a 'dataset' or a 'generated' key, got datasets"),
    ([{"generated": {"count": 1}, "seed": 3}], "only the key 'generated'"),
    ([{"generated": {"count": 0}}], "generated.count must be an integer >= 1"),
    ([{"generated": {"count": 1, "widht": 90}}], "#0: generated: unknown SyntheticConfig "
                                                 "key 'widht'"),
    ([{"dataset": "nope", "root": "/x"}], "unknown dataset 'nope'"),
])
def test_bad_specs_are_named(specs, message):
    with pytest.raises(ValueError, match=message):
        open_training_sources(specs)


def test_synthetic_adapter_and_valid_frames():
    synthetic = generate_sequence(SyntheticConfig.from_dict({**SMALL, "seed": 4}))
    synthetic.boxes[3] = np.nan
    adapter = SyntheticTrainingSequence(synthetic)
    assert adapter.name == "synthetic-seed4" and len(adapter) == 50
    assert not valid_frames(adapter)[3] and valid_frames(adapter).sum() == 49
    with pytest.raises(IndexError, match="frame 50"):
        adapter.frame(50)
