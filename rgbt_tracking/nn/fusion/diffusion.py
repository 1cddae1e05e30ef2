"""GMMT(DM): the fused feature as the sample of a conditional diffusion model.

Training (GMMT Eq. 2): the original fused feature is x_0; a random step t and Gaussian
noise z give ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) z``; the U-shaped network U sees
(x_t, f_rgb, f_thermal, embedding of t), and the noise estimate z_hat made from its
output is trained with ``L2(z_hat, z)`` (Loss_DM). Inference
(GMMT Eq. 4, "Sam"): DDIM sampling (Song, Meng, Ermon 2020, Eq. 12) from pure noise with
a few steps.

What U outputs (config ``prediction``): GMMT trains U's output directly against the noise
(``"epsilon"``). Then the x_0 estimate ``(x_t - sqrt(1 - abar_t) z_hat) / sqrt(abar_t)``
multiplies U's error by ``sqrt((1 - abar_t) / abar_t)``, about 157 at t = T for the linear
schedule, and sampling from x_T (which GMMT does, s = 1 step from t = 999) needs U to copy
x_t to 1e-3 precision: trained briefly, such a block samples x_0 estimates thousands of
times off (test/nn/fusion/test_diffusion_training.py, a slow test, measures it).
``"v"`` (the default) keeps the noise as the trained quantity but builds the copy of x_t
into the block: ``z_hat = sqrt(1 - abar_t) x_t + sqrt(abar_t) U(...)``, i.e. U predicts
``v = sqrt(abar_t) z - sqrt(1 - abar_t) x_0`` (Salimans & Ho 2022, "Progressive
distillation", Sec. 4); Loss_DM is still ``L2(z_hat, z)`` and ``x0_hat = sqrt(abar_t) x_t
- sqrt(1 - abar_t) U`` has a bounded error at every t.

What the tracking head is trained on (config ``head_input``): GMMT's stage two trains a
fresh head on the block's output under ``Loss_track + lambda Loss_gen`` and does not say
which output. ``"sample"`` (the default) gives the head the DDIM sample from pure noise,
exactly what inference gives it (``sampling_steps`` differentiable U passes), so
``Loss_track`` also trains U along the path it takes at inference; ``Loss_DM`` is computed
at a random t as above. ``"x0_estimate"`` gives the head the x_0 estimate at that random
t, which at small t is nearly x_0 itself: a head trained on it never sees the
pure-noise-start samples of inference. Measured with ``benchmarks/bench_gmmt_training.py``
(same stage-two budget, held-out generated sequences, success AUC): 6.7 % with
``x0_estimate`` (and T = 100), 71.5 % with ``sample`` (T = 1000, 2 steps); the stage-one
baseline reaches 51.4 %.

Indexing: the schedule arrays are 0-based, index ``i`` is the paper's step ``t = i + 1``
(t in [1, T]); index -1 stands for "before the first step", where ``abar = 1`` (x_0).
Schedules are computed and kept in float64; coefficients are cast to the feature dtype
only when applied.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import torch
import torch.nn.functional as F

from rgbt_tracking.nn.fusion.base import GenerativeFusion, standard_normal
from rgbt_tracking.nn.fusion.unet import ConditionalUNet, PreparedConditions

Steps = Union[int, torch.Tensor]

#: Offset s of the cosine schedule and its cap on beta (Nichol & Dhariwal 2021, Sec. 3.2).
COSINE_OFFSET = 0.008
COSINE_MAX_BETA = 0.999


def beta_schedule(kind: str, timesteps: int, beta_start: float = 1e-4,
                  beta_end: float = 0.02) -> torch.Tensor:
    """The diffusion rates beta_1 .. beta_T (GMMT Eq. 2's "predefined diffusion rate").

    * ``"linear"``: evenly spaced from ``beta_start`` to ``beta_end`` (DDPM: 1e-4 .. 0.02).
    * ``"cosine"``: ``abar(t) = f(t) / f(0)``, ``f(t) = cos^2((t/T + s)/(1 + s) * pi/2)``,
      ``beta_t = min(1 - abar(t)/abar(t-1), 0.999)`` with s = 0.008 (Nichol & Dhariwal
      2021, Eq. 17); ``beta_start`` / ``beta_end`` are not used.

    Returns:
        (T,) float64 tensor.

    Raises:
        ValueError: unknown kind, T < 1, or betas outside (0, 1).
    """
    if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 1:
        raise ValueError(f"timesteps must be an integer >= 1, got {timesteps!r}")
    if kind == "linear":
        if not 0.0 < beta_start <= beta_end < 1.0:
            raise ValueError(f"linear schedule needs 0 < beta_start <= beta_end < 1, got "
                             f"beta_start={beta_start}, beta_end={beta_end}")
        return torch.linspace(beta_start, beta_end, timesteps, dtype=torch.float64)
    if kind == "cosine":
        steps = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
        f = torch.cos((steps + COSINE_OFFSET) / (1 + COSINE_OFFSET) * math.pi / 2) ** 2
        abar = f / f[0]
        return (1.0 - abar[1:] / abar[:-1]).clamp(max=COSINE_MAX_BETA)
    raise ValueError(f"beta schedule must be 'linear' or 'cosine', got {kind!r}")


def alphas_cumprod(betas: torch.Tensor) -> torch.Tensor:
    """``abar_t = prod_{s <= t} (1 - beta_s)`` (GMMT Eq. 2), computed in float64.

    Args:
        betas: (T,) rates.

    Returns:
        (T,) float64 tensor.
    """
    if betas.ndim != 1 or betas.numel() == 0:
        raise ValueError(f"betas must be a non-empty (T,) tensor, got {tuple(betas.shape)}")
    return torch.cumprod(1.0 - betas.to(torch.float64), dim=0)


def _schedule_value(values: torch.Tensor, steps: Steps, like: torch.Tensor,
                    before_start: float) -> torch.Tensor:
    """``values[steps]`` (float64) shaped to broadcast against ``like`` (B, ...); index -1
    gives ``before_start``. ``steps`` is an int or a (B,) integer tensor."""
    count = values.shape[0]
    index = torch.as_tensor(steps).to(device="cpu", dtype=torch.long)
    if index.ndim > 1 or (index.ndim == 1 and index.shape[0] != like.shape[0]):
        raise ValueError(f"time steps must be an int or ({like.shape[0]},), got "
                         f"{tuple(index.shape)}")
    if bool(((index < -1) | (index >= count)).any()):
        raise ValueError(f"time step indices must be in [-1, {count - 1}], got "
                         f"{index.tolist()}")
    picked = torch.where(index >= 0, values.to("cpu", torch.float64)[index.clamp(min=0)],
                         torch.tensor(before_start, dtype=torch.float64))
    if picked.ndim == 1:
        picked = picked.reshape(-1, *([1] * (like.ndim - 1)))
    return picked


def _cast(value: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return value.to(device=like.device, dtype=like.dtype)


def q_sample(x0: torch.Tensor, t: Steps, noise: torch.Tensor,
             alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """Forward diffusion, GMMT Eq. 2: ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) z``.

    Args:
        x0: clean feature (B, C, H, W).
        t: 0-based step index (int, or (B,) integer tensor, one per sample).
        noise: z, same shape as ``x0``.
        alphas_cumprod: (T,) abar.
    """
    abar = _schedule_value(alphas_cumprod, t, x0, 1.0)
    return _cast(abar.sqrt(), x0) * x0 + _cast((1.0 - abar).sqrt(), x0) * noise


def predict_x0(x_t: torch.Tensor, noise_hat: torch.Tensor, t: Steps,
               alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """Eq. 2 solved for x_0: ``x0_hat = (x_t - sqrt(1 - abar_t) z_hat) / sqrt(abar_t)``."""
    abar = _schedule_value(alphas_cumprod, t, x_t, 1.0)
    return (x_t - _cast((1.0 - abar).sqrt(), x_t) * noise_hat) / _cast(abar.sqrt(), x_t)


def posterior_mean_variance(x_t: torch.Tensor, noise_hat: torch.Tensor, t: Steps,
                            betas: torch.Tensor, alphas_cumprod: torch.Tensor
                            ) -> Tuple[torch.Tensor, torch.Tensor]:
    """GMMT Eq. 3: mean and variance of x_{t-1} given x_t and the predicted noise.

    ``var = (1 - abar_{t-1}) / (1 - abar_t) * beta_t``;
    ``mean = sqrt(alpha_t) (1 - abar_{t-1}) / (1 - abar_t) x_t
    + sqrt(abar_{t-1}) beta_t / (1 - abar_t) * x0_hat`` with x0_hat from :func:`predict_x0`.
    This is the DDPM posterior q(x_{t-1} | x_t, x_0) at x_0 = x0_hat.

    Args:
        x_t: (B, C, H, W).
        noise_hat: U's noise prediction, same shape.
        t: 0-based step index (int or (B,)); at index 0 the mean is x0_hat, the variance 0.
        betas, alphas_cumprod: (T,) schedule.

    Returns:
        (mean (B, C, H, W), variance broadcastable to it: 0-d for an int ``t``, else
        (B, 1, 1, 1)), in the dtype of ``x_t``.
    """
    beta = _schedule_value(betas.to(torch.float64), t, x_t, 0.0)
    abar = _schedule_value(alphas_cumprod, t, x_t, 1.0)
    abar_prev = _schedule_value(alphas_cumprod, torch.as_tensor(t) - 1, x_t, 1.0)
    x0_hat = predict_x0(x_t, noise_hat, t, alphas_cumprod)
    coef_xt = (1.0 - beta).sqrt() * (1.0 - abar_prev) / (1.0 - abar)
    coef_x0 = abar_prev.sqrt() * beta / (1.0 - abar)
    mean = _cast(coef_xt, x_t) * x_t + _cast(coef_x0, x_t) * x0_hat
    variance = (1.0 - abar_prev) / (1.0 - abar) * beta
    return mean, _cast(variance, x_t)


def ddim_sigma(t: Steps, t_prev: Steps, alphas_cumprod: torch.Tensor, eta: float,
               like: torch.Tensor) -> torch.Tensor:
    """DDIM Eq. 16: ``sigma = eta sqrt((1 - abar_prev)/(1 - abar_t)) sqrt(1 - abar_t/abar_prev)``
    (float64, broadcastable to ``like``)."""
    abar = _schedule_value(alphas_cumprod, t, like, 1.0)
    abar_prev = _schedule_value(alphas_cumprod, t_prev, like, 1.0)
    return eta * ((1.0 - abar_prev) / (1.0 - abar)).sqrt() * (1.0 - abar / abar_prev).sqrt()


def ddim_step(x_t: torch.Tensor, noise_hat: torch.Tensor, t: Steps, t_prev: Steps,
              alphas_cumprod: torch.Tensor, eta: float = 0.0,
              noise: Optional[torch.Tensor] = None) -> torch.Tensor:
    """One DDIM update (Song, Meng, Ermon 2020, Eq. 12) from step t to step t_prev < t.

    ``x_prev = sqrt(abar_prev) x0_hat + sqrt(1 - abar_prev - sigma^2) z_hat + sigma z``,
    x0_hat from :func:`predict_x0`, sigma from :func:`ddim_sigma`. ``t_prev = -1`` means
    "to x_0" (abar_prev = 1, sigma = 0: the result is x0_hat). eta = 0 is deterministic;
    eta = 1 with t_prev = t - 1 is the DDPM ancestral step (GMMT Eq. 3).

    Args:
        x_t, noise_hat: (B, C, H, W).
        t, t_prev: 0-based step indices (ints or (B,) tensors).
        alphas_cumprod: (T,) abar.
        eta: DDIM's eta >= 0.
        noise: z for the stochastic part (same shape as ``x_t``); required when sigma > 0.

    Raises:
        ValueError: t_prev >= t, eta < 0, or noise missing where sigma > 0.
    """
    if eta < 0:
        raise ValueError(f"eta must be >= 0, got {eta}")
    if bool((torch.as_tensor(t_prev).cpu() >= torch.as_tensor(t).cpu()).any()):
        raise ValueError(f"DDIM steps backwards: t_prev ({t_prev}) must be < t ({t})")
    abar_prev = _schedule_value(alphas_cumprod, t_prev, x_t, 1.0)
    sigma = ddim_sigma(t, t_prev, alphas_cumprod, eta, x_t)
    x0_hat = predict_x0(x_t, noise_hat, t, alphas_cumprod)
    direction = (1.0 - abar_prev - sigma ** 2).clamp(min=0.0).sqrt()
    x_prev = _cast(abar_prev.sqrt(), x_t) * x0_hat + _cast(direction, x_t) * noise_hat
    if bool((sigma > 0).any()):
        if noise is None:
            raise ValueError("ddim_step with sigma > 0 (eta > 0) needs noise")
        x_prev = x_prev + _cast(sigma, x_t) * noise
    return x_prev


def ddim_timesteps(timesteps: int, steps: int) -> List[int]:
    """The ``steps`` 0-based indices DDIM visits, descending, starting at T - 1.

    Evenly spaced by T/steps and rounded: ``round(T - 1 - k T / steps)``, k = 0..steps-1.
    For T = 1000 and 10 steps: 999, 899, ..., 99, the traversal of GMMT Fig. 5 (the
    original DDIM code starts at T - T/steps instead; starting at T - 1 matches the
    pure-noise initial state).

    Raises:
        ValueError: steps < 1 or steps > T.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= timesteps:
        raise ValueError(f"sampling steps must be an integer in [1, {timesteps}], got {steps!r}")
    return [int(round(timesteps - 1 - k * timesteps / steps)) for k in range(steps)]


class DiffusionFusion(GenerativeFusion):
    """GMMT(DM): the noise of x_t is predicted from U(x_t, f_rgb, f_thermal, t); DDIM samples.

    Args:
        channels: feature channels C.
        config: validated ``generative`` config (timesteps, beta_schedule, beta_start,
            beta_end, sampling_steps, eta, prediction, unet_channels, unet_levels,
            time_embedding_dim).

    The schedule is kept in float64 outside the module's buffers (it follows from the
    config, and stays exact under ``.half()``).
    """

    kind = "diffusion"

    def __init__(self, channels: int, config: Mapping[str, Any]) -> None:
        super().__init__(channels, config)
        self.timesteps = int(self.config["timesteps"])
        self.betas = beta_schedule(self.config["beta_schedule"], self.timesteps,
                                   self.config["beta_start"], self.config["beta_end"])
        self.alphas_cumprod = alphas_cumprod(self.betas)
        self.eta = float(self.config["eta"])
        self.prediction = str(self.config["prediction"])
        self.sampling_steps = int(self.config["sampling_steps"])
        self.unet = ConditionalUNet(channels, 2 * channels, channels,
                                    self.config["unet_channels"],
                                    self.config["unet_levels"],
                                    self.config["time_embedding_dim"])

    @property
    def sampling_steps(self) -> int:
        """Number of DDIM steps of :meth:`forward` (settable)."""
        return len(self.sampling_timesteps)

    @sampling_steps.setter
    def sampling_steps(self, steps: int) -> None:
        self.sampling_timesteps = ddim_timesteps(self.timesteps, steps)

    def predict_noise(self, x_t: torch.Tensor,
                      conditions: Union[torch.Tensor, PreparedConditions],
                      t: torch.Tensor) -> torch.Tensor:
        """The noise estimate z_hat (B, C, H, W) from ``U(x_t, f_rgb, f_thermal, f_t)``:
        U's output itself (``prediction="epsilon"``) or
        ``sqrt(1 - abar_t) x_t + sqrt(abar_t) U`` (``prediction="v"``).

        Args:
            x_t: (B, C, H, W).
            conditions: ``concat(f_rgb, f_thermal)`` (B, 2C, H, W), or prepared once by
                ``self.unet.prepare_conditions`` for several steps.
            t: (B,) 0-based steps.
        """
        output = self.unet(x_t, conditions, t)
        if self.prediction == "epsilon":
            return output
        abar = _schedule_value(self.alphas_cumprod, t, x_t, 1.0)
        return _cast((1.0 - abar).sqrt(), x_t) * x_t + _cast(abar.sqrt(), x_t) * output

    def forward(self, f_rgb: torch.Tensor, f_thermal: torch.Tensor,
                generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """DDIM sampling (GMMT Eq. 4) with :attr:`sampling_steps` steps from x_T ~ N(0, I)
        drawn with ``generator``; (B, C, H, W) each -> fused (B, C, H, W)."""
        self.check_features(f_rgb=f_rgb, f_thermal=f_thermal)
        x = standard_normal(tuple(f_rgb.shape), f_rgb, generator)
        conditions = self.unet.prepare_conditions(torch.cat([f_rgb, f_thermal], dim=1))
        schedule = self.sampling_timesteps
        for k, t in enumerate(schedule):
            t_prev = schedule[k + 1] if k + 1 < len(schedule) else -1
            t_batch = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
            noise_hat = self.predict_noise(x, conditions, t_batch)
            noise = None
            if self.eta > 0 and t_prev >= 0:
                noise = standard_normal(tuple(x.shape), x, generator)
            x = ddim_step(x, noise_hat, t, t_prev, self.alphas_cumprod, self.eta, noise)
        return x

    def losses_at(self, f_rgb: torch.Tensor, f_thermal: torch.Tensor,
                  target_fused: torch.Tensor, t: torch.Tensor, noise: torch.Tensor
                  ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """Loss_DM for given draws: x_t by Eq. 2 from x_0 = ``target_fused``, ``t`` (B,)
        0-based and ``noise``; ``"gen" = MSE(U(x_t, ...), noise)``. Returns the x_0 estimate
        (B, C, H, W) and ``{"gen": ..., "x0_mse": MSE(x0_hat, target)}`` (the latter logged,
        no gradient)."""
        x_t = q_sample(target_fused, t, noise, self.alphas_cumprod)
        noise_hat = self.predict_noise(x_t, torch.cat([f_rgb, f_thermal], dim=1), t)
        x0_hat = predict_x0(x_t, noise_hat, t, self.alphas_cumprod)
        losses = {"gen": F.mse_loss(noise_hat, noise),
                  "x0_mse": F.mse_loss(x0_hat.detach(), target_fused.detach())}
        return x0_hat, losses

    def generator_losses(self, f_rgb: torch.Tensor, f_thermal: torch.Tensor,
                         target_fused: torch.Tensor,
                         generator: Optional[torch.Generator] = None
                         ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """Random t uniform over the T steps and noise z ~ N(0, I) (from ``generator``
        when given), then :meth:`losses_at`; with ``head_input="sample"`` the returned
        fused feature is the DDIM sample of :meth:`forward` (with gradients), else the x_0
        estimate at t."""
        self.check_features(f_rgb=f_rgb, f_thermal=f_thermal, target_fused=target_fused)
        batch = target_fused.shape[0]
        device = generator.device if generator is not None else target_fused.device
        t = torch.randint(0, self.timesteps, (batch,), generator=generator, device=device)
        noise = standard_normal(tuple(target_fused.shape), target_fused, generator)
        x0_hat, losses = self.losses_at(f_rgb, f_thermal, target_fused,
                                        t.to(target_fused.device), noise)
        if self.config["head_input"] == "x0_estimate":
            return x0_hat, losses
        sample = self.forward(f_rgb, f_thermal, generator)
        losses["sample_mse"] = F.mse_loss(sample.detach(), target_fused.detach())
        return sample, losses
