"""The three generative fusion blocks through the shared interface: the factory and its
config checks, shapes on odd sizes, seeded sampling, the losses against direct MSE
computations, and where the gradients go."""
from __future__ import annotations

import math

import pytest
import torch

from rgbt_tracking.nn.fusion import (CGANFusion, DiffusionFusion, GenerativeFusion, RawFusion,
                                     build_generative_fusion)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CHANNELS = 8
SMALL = {"unet_channels": 8, "unet_levels": 2, "time_embedding_dim": 8}
KINDS = ("diffusion", "cgan", "raw")


def small_block(kind: str, **config) -> GenerativeFusion:
    torch.manual_seed(0)
    return build_generative_fusion(kind, CHANNELS, {**SMALL, **config})


def features(size=(7, 7), batch=2, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(batch, CHANNELS, *size, generator=generator) for _ in range(3))


def test_factory_builds_each_kind_with_the_documented_defaults():
    block = build_generative_fusion("diffusion", 256, {})
    assert isinstance(block, DiffusionFusion) and block.kind == "diffusion"
    assert block.timesteps == 1000 and block.sampling_steps == 4 and block.eta == 0.0
    assert block.prediction == "v"
    assert block.unet.time_embedding_dim == 64 and block.unet.levels == 2
    assert block.unet.stem_conditions.out_channels == 64
    assert block.alphas_cumprod[0].item() == pytest.approx(1 - 1e-4)
    cgan = build_generative_fusion("cgan", 256, {})
    assert isinstance(cgan, CGANFusion) and cgan.noise_dim == 256
    assert isinstance(build_generative_fusion("raw", 256, {}), RawFusion)
    assert build_generative_fusion("cgan", 16, {"noise_dim": 3}).noise_dim == 3


@pytest.mark.parametrize("kind, config, message", [
    ("gan", {}, "kind"),
    ("diffusion", {"steps": 3}, "unknown parameter 'steps'"),
    ("diffusion", {"sampling_steps": 2000}, "sampling_steps"),
    ("diffusion", {"beta_schedule": "quadratic"}, "beta_schedule"),
    ("diffusion", {"time_embedding_dim": 7}, "time_embedding_dim"),
    ("diffusion", {"eta": -1.0}, "eta"),
    ("diffusion", {"prediction": "x0"}, "prediction"),
    ("diffusion", {"beta_start": 0.1, "beta_end": 0.01}, "beta_end"),
    ("raw", {"unet_channels": 0}, "unet_channels"),
    ("cgan", {"noise_dim": 0}, "noise_dim"),
])
def test_factory_rejects_unknown_kinds_keys_and_bad_values(kind, config, message):
    with pytest.raises(ValueError, match=message):
        build_generative_fusion(kind, CHANNELS, config)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("size", [(7, 7), (25, 25), (31, 31)])
def test_output_has_the_input_shape_on_odd_sizes(kind, size):
    block = small_block(kind, sampling_steps=2)
    f_rgb, f_thermal, _ = features(size)
    with torch.no_grad():
        out = block(f_rgb, f_thermal, torch.Generator().manual_seed(0))
    assert out.shape == (2, CHANNELS) + size and torch.isfinite(out).all()


@pytest.mark.parametrize("kind, config", [("diffusion", {}), ("diffusion", {"eta": 1.0}),
                                          ("diffusion", {"prediction": "epsilon"}),
                                          ("cgan", {})])
def test_seeded_sampling_is_reproducible_and_seed_dependent(kind, config):
    block = small_block(kind, sampling_steps=3, **config)
    f_rgb, f_thermal, _ = features()
    with torch.no_grad():
        first = block(f_rgb, f_thermal, torch.Generator().manual_seed(7))
        torch.manual_seed(123)  # the global RNG must not matter
        again = block(f_rgb, f_thermal, torch.Generator().manual_seed(7))
        other = block(f_rgb, f_thermal, torch.Generator().manual_seed(8))
    assert torch.equal(first, again)
    assert (first - other).abs().max() > 1e-4


def test_raw_fusion_is_deterministic():
    block = small_block("raw")
    f_rgb, f_thermal, _ = features()
    with torch.no_grad():
        first = block(f_rgb, f_thermal, torch.Generator().manual_seed(1))
        second = block(f_rgb, f_thermal)
    assert torch.equal(first, second)


def test_diffusion_sampling_with_an_oracle_noise_predictor_returns_the_clean_feature():
    block = small_block("diffusion", sampling_steps=5).double()
    f_rgb, f_thermal, x0 = (f.double() for f in features())
    abar = block.alphas_cumprod
    visited = []

    def oracle(x_t, conditions, t):
        # The noise that puts x_t on the forward path of x0 (Eq. 2 solved for z).
        visited.append(int(t[0]))
        a = abar[t].reshape(-1, 1, 1, 1)
        return (x_t - a.sqrt() * x0) / (1 - a).sqrt()

    block.predict_noise = oracle
    out = block(f_rgb, f_thermal, torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, x0, rtol=0, atol=1e-9)
    assert visited == [999, 799, 599, 399, 199]


@pytest.mark.parametrize("prediction", ["epsilon", "v"])
def test_diffusion_loss_against_a_direct_computation(prediction):
    block = small_block("diffusion", prediction=prediction)
    f_rgb, f_thermal, target = features((5, 5))
    t = torch.tensor([0, 700])
    noise = torch.randn(target.shape, generator=torch.Generator().manual_seed(4))
    x0_hat, losses = block.losses_at(f_rgb, f_thermal, target, t, noise)
    abar = torch.cumprod(1 - torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64), 0)
    a = abar[t].reshape(2, 1, 1, 1).float()
    x_t = a.sqrt() * target + (1 - a).sqrt() * noise
    output = block.unet(x_t, torch.cat([f_rgb, f_thermal], dim=1), t)
    if prediction == "epsilon":
        noise_hat = output
    else:  # U predicts v = sqrt(abar) z - sqrt(1 - abar) x0; z = sqrt(1 - abar) x_t + sqrt(abar) v
        noise_hat = (1 - a).sqrt() * x_t + a.sqrt() * output
        torch.testing.assert_close(x0_hat, a.sqrt() * x_t - (1 - a).sqrt() * output,
                                   rtol=1e-4, atol=1e-4)
    assert losses["gen"].item() == pytest.approx(((noise_hat - noise) ** 2).mean().item(),
                                                 rel=1e-5)
    torch.testing.assert_close(x0_hat, (x_t - (1 - a).sqrt() * noise_hat) / a.sqrt(),
                               rtol=1e-4, atol=1e-4)
    # generator_losses draws t and noise itself: reproducible with a seeded generator.
    first = block.generator_losses(f_rgb, f_thermal, target, torch.Generator().manual_seed(2))
    second = block.generator_losses(f_rgb, f_thermal, target, torch.Generator().manual_seed(2))
    assert torch.equal(first[0], second[0]) and first[1]["gen"] == second[1]["gen"]


def test_diffusion_gradients_reach_every_unet_parameter():
    block = small_block("diffusion")
    f_rgb, f_thermal, target = features()
    fused, losses = block.generator_losses(f_rgb, f_thermal, target)
    assert fused.shape == target.shape
    (losses["gen"] + fused.square().mean()).backward()
    for name, parameter in block.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    assert list(block.discriminator_parameters()) == []
    assert block.discriminator_loss(f_rgb, f_thermal, target, fused) is None


def test_cgan_losses_against_direct_least_squares():
    block = small_block("cgan")
    f_rgb, f_thermal, target = features()
    fake, losses = block.generator_losses(f_rgb, f_thermal, target)
    d_fake = block.discriminator(fake, f_rgb, f_thermal)
    d_real = block.discriminator(target, f_rgb, f_thermal)
    assert d_fake.shape == (2, 1, 7, 7)
    assert losses["gen"].item() == pytest.approx(((d_fake - 1) ** 2).mean().item(), rel=1e-5)
    loss_d = block.discriminator_loss(f_rgb, f_thermal, target, fake)
    direct = ((d_real - 1) ** 2).mean() + (d_fake ** 2).mean()
    assert loss_d.item() == pytest.approx(direct.item(), rel=1e-5)


def test_cgan_generator_loss_trains_g_only_and_discriminator_loss_trains_d_only():
    block = small_block("cgan")
    f_rgb, f_thermal, target = features()
    fake, losses = block.generator_losses(f_rgb, f_thermal, target)
    losses["gen"].backward()
    assert all(p.grad is None for p in block.discriminator_parameters())
    assert all(p.requires_grad for p in block.discriminator_parameters())  # restored
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for p in block.generator_parameters())
    block.zero_grad(set_to_none=True)
    block.discriminator_loss(f_rgb, f_thermal, target, fake).backward()
    assert all(p.grad is None for p in block.generator_parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for p in block.discriminator_parameters())
    generator_ids = {id(p) for p in block.generator_parameters()}
    assert not generator_ids & {id(p) for p in block.discriminator_parameters()}
    assert len(generator_ids) + len(list(block.discriminator_parameters())) == \
        len(list(block.parameters()))


def test_raw_loss_is_the_l2_to_the_fused_feature():
    block = small_block("raw")
    f_rgb, f_thermal, target = features()
    out, losses = block.generator_losses(f_rgb, f_thermal, target)
    torch.testing.assert_close(out, block(f_rgb, f_thermal))
    assert losses["gen"].item() == pytest.approx(((out - target) ** 2).mean().item(), rel=1e-6)
    losses["gen"].backward()
    assert all(p.grad is not None for p in block.generator_parameters())


@pytest.mark.parametrize("kind", KINDS)
def test_mismatched_features_are_rejected(kind):
    block = small_block(kind)
    f_rgb, f_thermal, target = features()
    with pytest.raises(ValueError, match=r"f_thermal has shape"):
        block(f_rgb, f_thermal[:, :, :5])
    with pytest.raises(ValueError, match=rf"f_rgb must be \(B, {CHANNELS}, H, W\)"):
        block(f_rgb[:, :3], f_thermal)
    with pytest.raises(ValueError, match="target_fused"):
        block.generator_losses(f_rgb, f_thermal, target[:1])


def test_float64_and_sampling_steps_setter():
    block = small_block("diffusion").double()
    f_rgb, f_thermal, _ = (f.double() for f in features())
    block.sampling_steps = 1
    assert block.sampling_timesteps == [999]
    with torch.no_grad():
        out = block(f_rgb, f_thermal, torch.Generator().manual_seed(0))
    assert out.dtype == torch.float64 and not math.isnan(out.sum().item())


def test_diffusion_head_input_is_the_inference_sample_or_the_x0_estimate():
    f_rgb, f_thermal, target = features()
    block = small_block("diffusion")
    # "sample": the losses draw t and z first, then the DDIM sample starts from the next
    # draw of the same generator; forward() with a generator in that state gives it again.
    generator = torch.Generator().manual_seed(5)
    fused, losses = block.generator_losses(f_rgb, f_thermal, target, generator)
    replay = torch.Generator().manual_seed(5)
    torch.randint(0, block.timesteps, (target.shape[0],), generator=replay)
    torch.randn(tuple(target.shape), generator=replay)
    with torch.no_grad():
        torch.testing.assert_close(fused.detach(), block(f_rgb, f_thermal, replay))
    assert losses["sample_mse"].item() == pytest.approx(
        ((fused.detach() - target) ** 2).mean().item(), rel=1e-5)
    assert fused.requires_grad
    estimate_block = small_block("diffusion", head_input="x0_estimate")
    estimate_block.load_state_dict(block.state_dict())
    x0_hat, estimate_losses = estimate_block.generator_losses(
        f_rgb, f_thermal, target, torch.Generator().manual_seed(5))
    assert "sample_mse" not in estimate_losses
    assert estimate_losses["x0_mse"].item() == pytest.approx(
        ((x0_hat.detach() - target) ** 2).mean().item(), rel=1e-5)
    with pytest.raises(ValueError, match="head_input"):
        small_block("diffusion", head_input="noise")
