"""pix2pix training task: GAN losses by hand, the two-optimiser step, aligned crops, the
L1 term falling on a few generated pairs, and a short run of the shared loop."""
from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rgbt_tracking.train.pix2pix import (AlignedPairDataset, Pix2PixTraining, gan_loss,
                                         split_pairs, thermal_to_unit)

cv2 = pytest.importorskip("cv2")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


SMALL_MODEL = {"num_downs": 4, "base_channels": 8, "norm": "batch", "gan_loss": "lsgan",
               "lambda_l1": 100.0}


def make_pair(seed: int, width: int = 80, height: int = 72) -> tuple:
    """(RGB uint8 H x W x 3, thermal uint8 H x W): random blurred rectangles in RGB;
    thermal = 255 - red channel, so the mapping is learnable and crops can be checked."""
    rng = np.random.default_rng(seed)
    rgb = np.full((height, width, 3), 40, np.uint8)
    for _ in range(6):
        x0, y0 = rng.integers(0, width - 10), rng.integers(0, height - 10)
        x1, y1 = x0 + rng.integers(8, 30), y0 + rng.integers(8, 30)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.rectangle(rgb, (int(x0), int(y0)), (int(x1), int(y1)), colour, -1)
    rgb = cv2.GaussianBlur(rgb, (5, 5), 1.0)
    return rgb, 255 - rgb[:, :, 0]


def write_pair_folders(root: Path, count: int, **size) -> Dict[str, str]:
    (root / "visible").mkdir(parents=True)
    (root / "infrared").mkdir()
    for i in range(count):
        rgb, thermal = make_pair(i, **size)
        assert cv2.imwrite(str(root / "visible" / f"{i:06d}.png"), rgb[:, :, ::-1])
        assert cv2.imwrite(str(root / "infrared" / f"{i:06d}.png"), thermal)
    return {"rgb": str(root / "visible"), "thermal": str(root / "infrared")}


def make_config(pair_folders: List[Dict[str, str]], **sections) -> dict:
    config = {
        "trainer": {"epochs": 1, "iterations_per_epoch": 4, "batch_size": 2, "seed": 0,
                    "num_workers": 0, "log_every": 0, "checkpoint_every": 1,
                    "grad_clip": 0},
        "optim": {"lr": 2e-4, "beta1": 0.5},
        "model": dict(SMALL_MODEL),
        "data": {"sources": [], "pair_folders": pair_folders, "crop_size": 64,
                 "load_size": 0, "validation_pairs": 1},
    }
    for section, values in sections.items():
        config[section] = {**config.get(section, {}), **values}
    return config


def no_sync(module: torch.nn.Module) -> None:
    """The loop's gradient averaging in a single process: nothing to average."""


# -- GAN losses -------------------------------------------------------------------------

LOGITS = torch.tensor([[[[0.0, 2.0], [-1.0, 1.0]]]])


def test_lsgan_loss_by_hand():
    # real: mean((l - 1)^2) = (1 + 1 + 4 + 0) / 4; fake: mean(l^2) = (0 + 4 + 1 + 1) / 4
    assert float(gan_loss(LOGITS, True, "lsgan")) == pytest.approx(1.5)
    assert float(gan_loss(LOGITS, False, "lsgan")) == pytest.approx(1.5)
    assert float(gan_loss(torch.ones(1, 1, 2, 2), True, "lsgan")) == 0.0


def test_vanilla_loss_by_hand():
    values = [0.0, 2.0, -1.0, 1.0]
    # BCE of sigmoid(l) vs 1 = log(1 + exp(-l)); vs 0 = log(1 + exp(l))
    real = sum(math.log1p(math.exp(-v)) for v in values) / 4      # = 0.611650
    fake = sum(math.log1p(math.exp(v)) for v in values) / 4       # = 1.111650
    assert float(gan_loss(LOGITS, True, "vanilla")) == pytest.approx(real, rel=1e-6)
    assert float(gan_loss(LOGITS, False, "vanilla")) == pytest.approx(fake, rel=1e-6)
    assert real == pytest.approx(0.611650, abs=1e-6)


def test_unknown_gan_loss_is_refused():
    with pytest.raises(ValueError, match="one of .*lsgan.*got 'wgan'"):
        gan_loss(LOGITS, True, "wgan")
    with pytest.raises(ValueError, match="model.gan_loss must be one of"):
        Pix2PixTraining(make_config([], model={"gan_loss": "hinge"}))


# -- the step ---------------------------------------------------------------------------

def small_batch(count: int = 2) -> Dict[str, torch.Tensor]:
    pairs = [make_pair(i, 64, 64) for i in range(count)]
    rgb = torch.stack([torch.from_numpy(p[0]).permute(2, 0, 1).float() / 127.5 - 1
                       for p in pairs])
    thermal = torch.stack([torch.from_numpy(p[1])[None].float() / 127.5 - 1 for p in pairs])
    return {"rgb": rgb, "thermal": thermal}


def test_train_step_updates_both_networks_in_turn():
    torch.manual_seed(0)
    task = Pix2PixTraining(make_config([]))
    model = task.build_model()
    optimizers = task.build_optimizers(model)
    assert set(optimizers) == {"generator", "discriminator"}
    assert optimizers["generator"].defaults["betas"] == (0.5, 0.999)
    assert optimizers["discriminator"].defaults["lr"] == pytest.approx(2e-4)
    before = copy.deepcopy(model.state_dict())
    seen = []

    def record(module: torch.nn.Module) -> None:
        seen.append({name: (p.grad is not None and bool(p.grad.abs().sum() > 0))
                     for name, p in module.named_parameters()})

    losses = task.train_step(model, small_batch(), optimizers, record)
    assert set(losses) >= {"total", "discriminator", "discriminator_real",
                           "discriminator_fake", "generator", "generator_gan", "generator_l1"}
    assert losses["total"] == losses["generator"]
    assert losses["generator"] == pytest.approx(
        losses["generator_gan"] + 100.0 * losses["generator_l1"], rel=1e-5)
    assert losses["discriminator"] == pytest.approx(
        0.5 * (losses["discriminator_real"] + losses["discriminator_fake"]), rel=1e-5)
    # First backward: discriminator gradients only (the fake is detached); second: the
    # generator only (the discriminator is frozen).
    assert len(seen) == 2
    for step, (owner, other) in enumerate((("discriminator.", "generator."),
                                           ("generator.", "discriminator."))):
        assert any(v for k, v in seen[step].items() if k.startswith(owner))
        assert not any(v for k, v in seen[step].items() if k.startswith(other))
    after = model.state_dict()
    for prefix in ("generator.", "discriminator."):
        changed = [k for k in after if k.startswith(prefix) and after[k].is_floating_point()
                   and not torch.equal(after[k], before[k])]
        assert changed, f"no {prefix}* weight changed"
    assert all(p.requires_grad for p in model.discriminator.parameters())


def test_compute_losses_match_a_direct_computation():
    torch.manual_seed(1)
    task = Pix2PixTraining(make_config([], model={"gan_loss": "vanilla", "lambda_l1": 10.0}))
    model = task.build_model().eval()
    batch = small_batch()
    with torch.no_grad():
        losses = task.compute_losses(model, batch)
        fake = model.generator(batch["rgb"])
        d_real = model.discriminator(torch.cat([batch["rgb"], batch["thermal"]], 1))
        d_fake = model.discriminator(torch.cat([batch["rgb"], fake], 1))
    l1 = (fake - batch["thermal"]).abs().mean()
    bce_real = F.softplus(-d_real).mean()          # -log(sigmoid(d))
    bce_fake = F.softplus(d_fake).mean()           # -log(1 - sigmoid(d))
    assert float(losses["generator_l1"]) == pytest.approx(float(l1), rel=1e-5)
    assert float(losses["discriminator"]) == pytest.approx(
        float(0.5 * (bce_real + bce_fake)), rel=1e-5)
    assert float(losses["total"]) == pytest.approx(
        float(F.softplus(-d_fake).mean() + 10.0 * l1), rel=1e-5)


def test_l1_term_falls_over_a_few_dozen_steps(tmp_path):
    torch.manual_seed(0)
    folders = write_pair_folders(tmp_path / "pairs", 3, width=64, height=64)
    task = Pix2PixTraining(make_config([folders], trainer={"iterations_per_epoch": 0,
                                                           "batch_size": 1},
                                       data={"validation_pairs": 0}))
    dataset = task.build_dataset("train")
    assert len(dataset) == 3
    model = task.build_model()
    optimizers = task.build_optimizers(model)
    for group in optimizers["generator"].param_groups:   # 10x the paper lr: few steps
        group["lr"] = 2e-3
    l1 = []
    for step in range(36):
        dataset.epoch = step // 3
        batch = {k: v[None] for k, v in dataset[step % 3].items()}
        l1.append(task.train_step(model, batch, optimizers, no_sync)["generator_l1"])
    assert np.mean(l1[-6:]) < 0.6 * np.mean(l1[:6])


# -- data -------------------------------------------------------------------------------

def test_crops_keep_rgb_and_thermal_aligned_and_follow_the_seed(tmp_path):
    folders = write_pair_folders(tmp_path / "pairs", 3)
    task = Pix2PixTraining(make_config([folders], data={"validation_pairs": 0}))
    dataset = task.build_dataset("train")
    assert len(dataset) == 4 * 2                      # iterations_per_epoch x batch_size
    for index in range(len(dataset)):
        item = dataset[index]
        assert item["rgb"].shape == (3, 64, 64) and item["thermal"].shape == (1, 64, 64)
        assert item["rgb"].min() >= -1 and item["rgb"].max() <= 1
        # thermal = 255 - red, both mapped to [-1, 1]: thermal = -red exactly
        torch.testing.assert_close(item["thermal"][0], -item["rgb"][0], atol=1e-5, rtol=0)
    first = dataset[5]
    torch.testing.assert_close(dataset[5]["rgb"], first["rgb"])
    dataset.epoch = 1
    assert not torch.equal(dataset[5]["rgb"], first["rgb"])


def test_crop_is_a_window_of_the_stored_image(tmp_path):
    folders = write_pair_folders(tmp_path / "pairs", 1)
    rgb, _ = make_pair(0)
    task = Pix2PixTraining(make_config([folders], data={"validation_pairs": 0},
                                       trainer={"iterations_per_epoch": 0}))
    dataset = task.build_dataset("train")
    found_flipped = found_plain = False
    for epoch in range(12):
        dataset.epoch = epoch
        crop = ((dataset[0]["rgb"].permute(1, 2, 0) + 1) * 127.5).round().byte().numpy()
        for candidate, flipped in ((crop, False), (crop[:, ::-1], True)):
            hits = [(y, x) for y in range(72 - 63) for x in range(80 - 63)
                    if np.array_equal(rgb[y:y + 64, x:x + 64], candidate)]
            if hits:
                found_flipped |= flipped
                found_plain |= not flipped
                break
        else:
            pytest.fail(f"epoch {epoch}: the crop is no window of the image")
    assert found_flipped and found_plain


def test_load_size_scales_the_shorter_side_before_cropping():
    rgb, thermal = make_pair(0, width=160, height=128)
    dataset = AlignedPairDataset([_Pairs([(rgb, thermal)])], np.array([[0, 0]]), 64, 64, 1,
                                 random=False)
    item = dataset[0]
    expected = cv2.resize(rgb, (80, 64), interpolation=cv2.INTER_AREA)[:, 8:72]
    np.testing.assert_allclose(((item["rgb"].permute(1, 2, 0) + 1) * 127.5).numpy(),
                               expected, atol=1e-3)


def test_thermal_to_unit_scales_by_type():
    np.testing.assert_allclose(thermal_to_unit(np.array([[0, 255]], np.uint8)), [[0, 1]])
    np.testing.assert_allclose(thermal_to_unit(np.array([[1000, 1500, 2000]], np.uint16)),
                               [[0, 0.5, 1]])
    assert not thermal_to_unit(np.full((2, 2), 7.0, np.float32)).any()


def test_split_pairs_holds_out_evenly_spread_pairs():
    train, held = split_pairs([3, 2, 5], 3)
    np.testing.assert_array_equal(held, [[0, 0], [1, 1], [2, 4]])
    assert len(train) == 7 and not {tuple(r) for r in train} & {tuple(r) for r in held}
    with pytest.raises(ValueError, match="leaves no training pair out of 2"):
        split_pairs([2], 2)
    with pytest.raises(ValueError, match="no training pairs"):
        split_pairs([], 0)


def test_pair_folder_errors(tmp_path):
    folders = write_pair_folders(tmp_path / "pairs", 2)
    (tmp_path / "pairs" / "infrared" / "000001.png").unlink()
    with pytest.raises(ValueError, match=r"1 rgb images have no file of the same name in "
                                         r".*infrared \(e.g. 000001\)"):
        Pix2PixTraining(make_config([folders])).build_dataset("train")
    missing = {"rgb": str(tmp_path / "nowhere"), "thermal": folders["thermal"]}
    with pytest.raises(FileNotFoundError, match="rgb folder .*nowhere does not exist"):
        Pix2PixTraining(make_config([missing])).build_dataset("train")
    with pytest.raises(ValueError, match=r"pair_folders\[0\] must be a mapping"):
        Pix2PixTraining(make_config([{"visible": "x"}])).build_dataset("train")


def test_crop_size_must_fit_the_generator():
    with pytest.raises(ValueError, match="crop_size=40 must be a multiple of .* 16"):
        Pix2PixTraining(make_config([], data={"crop_size": 40}))


def test_validate_is_the_mean_l1_of_held_out_centre_crops(tmp_path):
    torch.manual_seed(0)
    folders = write_pair_folders(tmp_path / "pairs", 4)
    task = Pix2PixTraining(make_config([folders], data={"validation_pairs": 2}))
    model = task.build_model()
    model.train()
    figures = task.validate(model)
    assert model.generator.training
    held = task.build_dataset("val")
    assert len(held) == 2 and len(task.build_dataset("train").pairs) == 2
    model.eval()
    with torch.no_grad():
        direct = np.mean([float((model(item["rgb"][None]) - item["thermal"][None]).abs().mean())
                          for item in held])
    assert figures == {"val_l1": pytest.approx(direct, rel=1e-5)}
    assert task.checkpoint_metadata() == {"kind": "pix2pix"}


class _Pairs:
    """An in-memory sequence-like of (rgb, thermal) pairs."""

    name = "in-memory"

    def __init__(self, pairs):
        self.pairs = pairs

    def __len__(self):
        return len(self.pairs)

    def frame(self, index):
        return self.pairs[index]


# -- configuration and the shared loop ----------------------------------------------------

def test_preset_configuration_builds_the_paper_model():
    from rgbt_tracking.train.registry import load_training_config, task_class

    config = load_training_config("pix2pix")
    assert config["optim"]["lr"] == pytest.approx(2e-4) and config["optim"]["beta1"] == 0.5
    assert config["model"]["lambda_l1"] == 100.0 and config["data"]["crop_size"] == 256
    assert 1 <= config["trainer"]["batch_size"] <= 4
    task = task_class("pix2pix")(config)
    assert isinstance(task, Pix2PixTraining)
    model = task.build_model()
    assert model.generator.num_downs == 8 and model.discriminator.receptive_field() == 70


def test_short_run_of_the_shared_loop_on_generated_sources(tmp_path):
    from rgbt_tracking.data.synthetic_thermal import load_thermal_generator
    from rgbt_tracking.train.checkpoint import load_checkpoint
    from rgbt_tracking.train.loop import run_training

    generated = {"count": 1, "seed": 3, "width": 96, "height": 80, "num_frames": 50,
                 "target_size": [16, 12], "clutter_min_distance": 30,
                 "num_rgb_lookalikes": 0, "num_thermal_lookalikes": 0, "num_warm_blobs": 0}
    folders = write_pair_folders(tmp_path / "pairs", 2)
    config = make_config([folders], data={"sources": [{"generated": generated}],
                                          "validation_pairs": 2},
                         trainer={"epochs": 2, "iterations_per_epoch": 3})
    summary = run_training(Pix2PixTraining(config), tmp_path / "run", progress=False)
    assert summary.epochs_done == 2
    data = load_checkpoint(summary.checkpoint)
    assert data["task"] == "pix2pix" and data["metadata"] == {"kind": "pix2pix"}
    assert {k.split(".")[0] for k in data["model"]} == {"generator", "discriminator"}
    generator = load_thermal_generator(summary.checkpoint)
    state = {k[len("generator."):]: v for k, v in data["model"].items()
             if k.startswith("generator.")}
    for key, value in generator.state_dict().items():
        torch.testing.assert_close(value, state[key])


def test_rgb_only_sources_are_refused(monkeypatch):
    from rgbt_tracking.data.sequence import Sequence
    from rgbt_tracking.train import sources

    rgb_only = Sequence(name="GOT-10k_Train_000001", dataset="got10k", rgb_files=["a.jpg"],
                        thermal_files=None, gt=np.zeros((1, 4)))
    monkeypatch.setattr(sources, "open_training_sources", lambda specs, cache_dir: [rgb_only])
    task = Pix2PixTraining(make_config([], data={"sources": [{"dataset": "got10k"}]}))
    with pytest.raises(ValueError, match="GOT-10k_Train_000001 has no thermal images"):
        task.build_dataset("train")

