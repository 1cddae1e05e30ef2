"""Synthetic thermal frames: translation of RGB-only sequences, the PNG cache (reused,
never overwritten, refused for another generator) and loading pix2pix checkpoints."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from rgbt_tracking.data.sequence import Sequence
from rgbt_tracking.data.synthetic_thermal import (SyntheticThermalSequence,
                                                  load_thermal_generator,
                                                  with_synthetic_thermal)
from rgbt_tracking.nn.pix2pix import UNetGenerator, translate_rgb_to_thermal
from rgbt_tracking.train.checkpoint import build_checkpoint, save_checkpoint
from rgbt_tracking.train.pix2pix import Pix2PixTraining

cv2 = pytest.importorskip("cv2")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


MODEL = {"num_downs": 3, "base_channels": 4, "norm": "batch"}


def rgb_sequence(folder: Path, count: int = 3) -> Sequence:
    """An RGB-only sequence of ``count`` 40x30 frames written as PNG files."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    files = []
    for i in range(count):
        path = folder / f"{i + 1:08d}.png"
        assert cv2.imwrite(str(path), rng.integers(0, 256, (30, 40, 3), dtype=np.uint8))
        files.append(path)
    gt = np.array([[5.0 + i, 6.0, 10.0, 8.0] for i in range(count)])
    return Sequence(name="GOT-10k_Train_000007", dataset="got10k", rgb_files=files,
                    thermal_files=None, gt=gt, folder=folder)


def small_generator(seed: int = 0) -> UNetGenerator:
    torch.manual_seed(seed)
    return UNetGenerator(**MODEL).eval()


def test_frames_carry_the_generator_output(tmp_path: Path):
    seq = rgb_sequence(tmp_path / "seq")
    generator = small_generator()
    wrapped = SyntheticThermalSequence(seq, generator)
    rgb, thermal = wrapped.frame(1)
    expected_rgb, none = seq.frame(1)
    assert none is None
    np.testing.assert_array_equal(rgb, expected_rgb)
    np.testing.assert_array_equal(thermal, translate_rgb_to_thermal(generator, expected_rgb))
    assert thermal.shape == (30, 40) and thermal.dtype == np.uint8
    # The rest of the sequence shows through.
    assert len(wrapped) == 3 and wrapped.name == seq.name
    np.testing.assert_array_equal(wrapped.boxes, seq.gt)
    assert wrapped.init_box == seq.init_box and wrapped.dataset == "got10k"
    assert len(list(wrapped.frames())) == 3
    with pytest.raises(IndexError, match="frame 3 outside 0..2"):
        wrapped.frame(3)


def test_cache_is_written_then_reused_and_never_overwritten(tmp_path: Path):
    seq = rgb_sequence(tmp_path / "seq")
    generator = small_generator()
    cache = tmp_path / "cache"
    wrapped = SyntheticThermalSequence(seq, generator, cache_dir=cache)
    _, thermal = wrapped.frame(0)
    path = cache / seq.name / "00000001.png"
    np.testing.assert_array_equal(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE), thermal)
    assert (cache / seq.name / "generator.txt").is_file()
    # A file already there (here: different content) is read back, not replaced.
    marker = np.full((30, 40), 77, np.uint8)
    assert cv2.imwrite(str(cache / seq.name / "00000002.png"), marker)
    again = SyntheticThermalSequence(seq, generator, cache_dir=cache)
    np.testing.assert_array_equal(again.frame(1)[1], marker)
    np.testing.assert_array_equal(cv2.imread(str(cache / seq.name / "00000002.png"),
                                             cv2.IMREAD_GRAYSCALE), marker)
    np.testing.assert_array_equal(again.frame(0)[1], thermal)
    assert sorted(p.name for p in (cache / seq.name).iterdir()) == [
        "00000001.png", "00000002.png", "generator.txt"]


def test_cache_of_another_generator_is_refused(tmp_path: Path):
    seq = rgb_sequence(tmp_path / "seq")
    cache = tmp_path / "cache"
    SyntheticThermalSequence(seq, small_generator(0), cache_dir=cache).frame(0)
    other = SyntheticThermalSequence(seq, small_generator(1), cache_dir=cache)
    with pytest.raises(ValueError, match=r"cache folder .*GOT-10k_Train_000007 holds frames "
                                         r"of another generator"):
        other.frame(0)


def test_bad_cached_file_is_named_and_kept(tmp_path: Path):
    seq = rgb_sequence(tmp_path / "seq")
    cache = tmp_path / "cache"
    wrapped = SyntheticThermalSequence(seq, small_generator(), cache_dir=cache)
    wrapped.frame(0)
    wrong = cache / seq.name / "00000003.png"
    assert cv2.imwrite(str(wrong), np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match=r"cached thermal frame .*00000003.png is 10x10, "
                                         r"the RGB frame is 40x30"):
        wrapped.frame(2)
    (cache / seq.name / "00000002.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="00000002.png is not a readable image"):
        wrapped.frame(1)
    assert (cache / seq.name / "00000002.png").read_bytes() == b"not a png"


def _save_pix2pix_checkpoint(folder: Path, task_name: str = "pix2pix",
                             data: dict | None = None) -> Path:
    torch.manual_seed(0)
    config = {"trainer": {}, "model": dict(MODEL), "data": data or {}}
    task = Pix2PixTraining(config)
    model = task.build_model()
    with torch.no_grad():     # non-default running statistics, to see they are loaded
        model.generator.encoder[1][2].running_mean.fill_(0.25)
    return save_checkpoint(folder, build_checkpoint(task_name, config, 1, model, {}, {}, {},
                                                    task.checkpoint_metadata()))



def test_load_thermal_generator_round_trip(tmp_path: Path):
    path = _save_pix2pix_checkpoint(tmp_path / "run")
    generator = load_thermal_generator(path)
    assert not generator.training and generator.num_downs == 3
    assert float(generator.encoder[1][2].running_mean[0]) == 0.25
    torch.manual_seed(0)
    reference = Pix2PixTraining({"model": dict(MODEL)}).build_model().generator
    for key, value in reference.state_dict().items():
        if "running_mean" not in key:
            torch.testing.assert_close(generator.state_dict()[key], value)


def test_load_thermal_generator_errors(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match=r"pix2pix checkpoint .*nothing.pth does not "
                                                r"exist"):
        load_thermal_generator(tmp_path / "nothing.pth")
    other = _save_pix2pix_checkpoint(tmp_path / "run", task_name="mfdimp")
    with pytest.raises(ValueError, match="checkpoint of task 'mfdimp', expected 'pix2pix'"):
        load_thermal_generator(other)


def test_with_synthetic_thermal_uses_the_training_scale(tmp_path: Path):
    path = _save_pix2pix_checkpoint(tmp_path / "run", data={"load_size": 16})
    seq = rgb_sequence(tmp_path / "seq")
    [wrapped] = with_synthetic_thermal([seq], path, tmp_path / "cache")
    assert isinstance(wrapped, SyntheticThermalSequence) and wrapped.short_side == 16
    rgb, thermal = wrapped.frame(0)
    # 30x40 at shorter side 16 -> 16x21 -> multiples of 8: 16x24, then back to 30x40
    expected = translate_rgb_to_thermal(load_thermal_generator(path), rgb, short_side=16)
    np.testing.assert_array_equal(thermal, expected)
    assert (tmp_path / "cache" / seq.name / "00000001.png").is_file()


def test_training_source_spec_gives_got10k_with_synthetic_thermal(tmp_path: Path):
    from test_got10k import box_rows, write_sequence

    from rgbt_tracking.train.sources import open_training_sources

    train = tmp_path / "GOT-10k" / "train"
    for name in ("GOT-10k_Train_000001", "GOT-10k_Train_000002"):
        write_sequence(train / name, box_rows(3))
    (train / "list.txt").write_text("GOT-10k_Train_000001\nGOT-10k_Train_000002\n")
    exclude = tmp_path / "vot_prohibited.txt"
    exclude.write_text("GOT-10k_Train_000002\n")
    checkpoint = _save_pix2pix_checkpoint(tmp_path / "run")
    spec = {"dataset": "got10k", "root": str(tmp_path / "GOT-10k"), "split": "train",
            "exclude": str(exclude), "thermal_generator": str(checkpoint)}
    sequences = open_training_sources([spec], cache_dir=tmp_path / "cache")
    assert [s.name for s in sequences] == ["GOT-10k_Train_000001"]
    rgb, thermal = sequences[0].frame(1)
    assert rgb.ndim == 3 and thermal.shape == rgb.shape[:2] and thermal.dtype == np.uint8
    assert any((tmp_path / "cache" / "synthetic_thermal").rglob("*.png"))
    with pytest.raises(ValueError, match="got10k only"):
        open_training_sources([{"dataset": "lasher", "root": str(tmp_path), "exclude": "x"}])
