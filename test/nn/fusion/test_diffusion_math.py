"""Noise schedules, forward diffusion (GMMT Eq. 2), the posterior (GMMT Eq. 3) and the DDIM
update (Song et al. 2020, Eq. 12) against hand-computed numbers and direct formulas."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rgbt_tracking.nn.fusion.diffusion import (alphas_cumprod, beta_schedule, ddim_step,
                                               ddim_timesteps, posterior_mean_variance,
                                               predict_x0, q_sample)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: A 3-step schedule whose abar is easy by hand: 0.9, 0.9 * 0.8 = 0.72, 0.72 * 0.7 = 0.504.
BETAS = torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64)
ABAR = torch.tensor([0.9, 0.72, 0.504], dtype=torch.float64)


def test_linear_schedule_is_ddpm_linspace():
    betas = beta_schedule("linear", 1000, 1e-4, 0.02)
    assert betas.dtype == torch.float64 and betas.shape == (1000,)
    np.testing.assert_allclose(betas.numpy(), np.linspace(1e-4, 0.02, 1000), rtol=0, atol=1e-15)


def test_alphas_cumprod_matches_a_float64_running_product():
    betas = beta_schedule("linear", 1000)
    abar = alphas_cumprod(betas)
    expected, running = [], 1.0
    for beta in np.linspace(1e-4, 0.02, 1000):
        running *= 1.0 - beta
        expected.append(running)
    np.testing.assert_allclose(abar.numpy(), expected, rtol=1e-12)
    # Known value of DDPM's linear schedule: abar_T ~ 4.04e-5 (x_T is almost pure noise).
    assert abar[-1].item() == pytest.approx(4.0358e-5, rel=1e-3)
    np.testing.assert_allclose(alphas_cumprod(BETAS).numpy(), ABAR.numpy(), rtol=1e-14)


def test_cosine_schedule_reproduces_its_abar_definition():
    timesteps, s = 1000, 0.008
    abar = alphas_cumprod(beta_schedule("cosine", timesteps))

    def f(t):
        return math.cos((t / timesteps + s) / (1 + s) * math.pi / 2) ** 2

    for t in (1, 10, 500, 900, 980):
        assert abar[t - 1].item() == pytest.approx(f(t) / f(0), rel=1e-9)
    betas = beta_schedule("cosine", timesteps)
    assert betas.max().item() <= 0.999 and betas.min().item() > 0


def test_schedule_rejects_bad_arguments():
    with pytest.raises(ValueError, match="quadratic"):
        beta_schedule("quadratic", 10)
    with pytest.raises(ValueError, match="timesteps"):
        beta_schedule("linear", 0)
    with pytest.raises(ValueError, match="beta_start"):
        beta_schedule("linear", 10, 0.5, 0.1)


def test_q_sample_by_hand_with_per_sample_steps():
    x0 = torch.tensor([1.0, -2.0], dtype=torch.float64).reshape(2, 1, 1, 1)
    noise = torch.tensor([2.0, 0.5], dtype=torch.float64).reshape(2, 1, 1, 1)
    x_t = q_sample(x0, torch.tensor([1, 2]), noise, ABAR)
    expected = [math.sqrt(0.72) * 1.0 + math.sqrt(0.28) * 2.0,
                math.sqrt(0.504) * -2.0 + math.sqrt(0.496) * 0.5]
    np.testing.assert_allclose(x_t.flatten().numpy(), expected, rtol=1e-14)
    # An int step applies to the whole batch.
    x_t0 = q_sample(x0, 0, noise, ABAR)
    np.testing.assert_allclose(x_t0.flatten().numpy(),
                               [math.sqrt(0.9) + math.sqrt(0.1) * 2.0,
                                math.sqrt(0.9) * -2.0 + math.sqrt(0.1) * 0.5], rtol=1e-14)


def test_deterministic_ddim_with_a_perfect_noise_predictor_recovers_x0_exactly():
    generator = torch.Generator().manual_seed(3)
    abar = alphas_cumprod(beta_schedule("linear", 1000))
    x0 = torch.randn(2, 3, 5, 5, generator=generator, dtype=torch.float64)
    noise = torch.randn(2, 3, 5, 5, generator=generator, dtype=torch.float64)
    for t in (0, 499, 999):
        x_t = q_sample(x0, t, noise, abar)
        torch.testing.assert_close(ddim_step(x_t, noise, t, -1, abar, eta=0.0), x0,
                                   rtol=0, atol=1e-9)
        torch.testing.assert_close(predict_x0(x_t, noise, t, abar), x0, rtol=0, atol=1e-9)
    # A partial step keeps the same noise: it lands on q_sample(x0, t_prev, noise).
    x_t = q_sample(x0, 900, noise, abar)
    torch.testing.assert_close(ddim_step(x_t, noise, 900, 400, abar),
                               q_sample(x0, 400, noise, abar), rtol=0, atol=1e-12)


def test_ddim_step_by_hand_on_the_three_step_schedule():
    # x_t = 1, noise_hat = 0.5, t = 2 (abar 0.504) -> t_prev = 1 (abar 0.72), eta = 0.
    x_t = torch.tensor([[[[1.0]]]], dtype=torch.float64)
    eps = torch.full_like(x_t, 0.5)
    x0_hat = (1.0 - math.sqrt(1 - 0.504) * 0.5) / math.sqrt(0.504)
    expected = math.sqrt(0.72) * x0_hat + math.sqrt(1 - 0.72) * 0.5
    assert ddim_step(x_t, eps, 2, 1, ABAR).item() == pytest.approx(expected, rel=1e-14)
    # eta = 0.5: sigma = 0.5 sqrt(0.28/0.496) sqrt(1 - 0.504/0.72); z = -1.
    sigma = 0.5 * math.sqrt(0.28 / 0.496) * math.sqrt(1 - 0.504 / 0.72)
    expected = (math.sqrt(0.72) * x0_hat + math.sqrt(1 - 0.72 - sigma ** 2) * 0.5
                + sigma * -1.0)
    got = ddim_step(x_t, eps, 2, 1, ABAR, eta=0.5, noise=-torch.ones_like(x_t))
    assert got.item() == pytest.approx(expected, rel=1e-14)


def direct_ddpm_posterior(x_t, x0, beta, abar, abar_prev):
    """q(x_{t-1} | x_t, x0) as the product of N(x_{t-1}; sqrt(abar_prev) x0, 1 - abar_prev)
    and N(x_t; sqrt(1 - beta) x_{t-1}, beta) in x_{t-1} (precisions add)."""
    precision = 1.0 / (1.0 - abar_prev) + (1.0 - beta) / beta
    variance = 1.0 / precision
    mean = variance * (math.sqrt(abar_prev) * x0 / (1.0 - abar_prev)
                       + math.sqrt(1.0 - beta) * x_t / beta)
    return mean, variance


def test_eq3_posterior_equals_the_ddpm_posterior_computed_directly():
    betas = beta_schedule("linear", 1000)
    abar = alphas_cumprod(betas)
    generator = torch.Generator().manual_seed(5)
    x0 = torch.randn(1, 2, 3, 3, generator=generator, dtype=torch.float64)
    noise = torch.randn(1, 2, 3, 3, generator=generator, dtype=torch.float64)
    for t in (1, 250, 999):
        x_t = q_sample(x0, t, noise, abar)
        mean, variance = posterior_mean_variance(x_t, noise, t, betas, abar)
        want_mean, want_variance = direct_ddpm_posterior(
            x_t, x0, betas[t].item(), abar[t].item(), abar[t - 1].item())
        torch.testing.assert_close(mean, want_mean, rtol=1e-9, atol=1e-9)
        assert variance.item() == pytest.approx(want_variance, rel=1e-9)
        # DDIM with eta = 1 and t_prev = t - 1 is this ancestral step (DDIM paper, Sec. 4.1).
        z = torch.randn(x_t.shape, generator=generator, dtype=torch.float64)
        step = ddim_step(x_t, noise, t, t - 1, abar, eta=1.0, noise=z)
        torch.testing.assert_close(step, want_mean + math.sqrt(want_variance) * z,
                                   rtol=1e-9, atol=1e-9)
    # At the first step the posterior collapses on x0.
    x_t = q_sample(x0, 0, noise, abar)
    mean, variance = posterior_mean_variance(x_t, noise, 0, betas, abar)
    torch.testing.assert_close(mean, x0, rtol=0, atol=1e-9)
    assert variance.item() == 0.0


def test_ddim_timesteps_follow_the_papers_traversal():
    assert ddim_timesteps(1000, 10) == [999, 899, 799, 699, 599, 499, 399, 299, 199, 99]
    assert ddim_timesteps(1000, 1) == [999]
    assert ddim_timesteps(1000, 4) == [999, 749, 499, 249]
    assert ddim_timesteps(5, 5) == [4, 3, 2, 1, 0]
    for bad in (0, 1001):
        with pytest.raises(ValueError, match="sampling steps"):
            ddim_timesteps(1000, bad)


def test_ddim_step_rejects_bad_steps_and_missing_noise():
    x = torch.zeros(1, 1, 1, 1, dtype=torch.float64)
    with pytest.raises(ValueError, match="t_prev"):
        ddim_step(x, x, 1, 1, ABAR)
    with pytest.raises(ValueError, match="needs noise"):
        ddim_step(x, x, 2, 1, ABAR, eta=1.0)
    with pytest.raises(ValueError, match=r"\[-1, 2\]"):
        q_sample(x, 3, x, ABAR)
