"""The generative fusion block's contract and its factory.

GMMT (Tang et al., "Generative-Based Fusion Mechanism for Multi-Modal Tracking", AAAI 2024)
replaces a tracker's fusion block by a generative model that produces the fused feature from
the two per-modality features (the "conditions"). Three kinds share one interface:

* ``"diffusion"``: GMMT(DM), a conditional denoising diffusion model sampled with DDIM;
* ``"cgan"``: GMMT(CGAN), a conditional GAN whose generator has the same U-shaped network;
* ``"raw"``: the paper's RAW control (Table 2): the same network trained with a plain L2
  loss to the fused feature, no noise.

Every kind maps features (B, C, H, W) of the RGB and the thermal branch to a fused feature
(B, C, H, W) of the same shape (any H, W >= 1).
"""
from __future__ import annotations

import abc
import math
from typing import Any, Dict, Iterator, Mapping, Optional, Tuple

import torch
from torch import nn

from rgbt_tracking.core.config import merge_overrides

KINDS = ("diffusion", "cgan", "raw")
BETA_SCHEDULES = ("linear", "cosine")
PREDICTIONS = ("epsilon", "v")
HEAD_INPUTS = ("sample", "x0_estimate")

#: The ``generative`` section of a tracker preset, with its defaults. ``noise_dim`` None
#: means "as many noise channels as feature channels" (cgan only).
DEFAULT_CONFIG: Dict[str, Any] = {
    "timesteps": 1000,          # T of the paper ("We set the value of T to 1000")
    "beta_schedule": "linear",  # linear: DDPM's 1e-4 .. 0.02; cosine: Nichol & Dhariwal 2021
    "beta_start": 1e-4,
    "beta_end": 0.02,
    "sampling_steps": 4,        # DDIM steps at inference (the paper uses s = 1)
    "eta": 0.0,                 # DDIM eta: 0 = deterministic given the initial noise
    "prediction": "v",          # what U outputs: "epsilon" (the noise itself, as in GMMT /
                                # DDPM) or "v" (Salimans & Ho 2022; the noise estimate is
                                # sqrt(1 - abar) x_t + sqrt(abar) U): see diffusion.py
    "head_input": "sample",     # diffusion, training: what the tracking head is trained on:
                                # "sample" = the DDIM sample from noise that inference gives
                                # the head (differentiable, sampling_steps U passes), or
                                # "x0_estimate" = the x_0 estimate at the random t of Loss_DM
    "unet_channels": 64,        # base width of the U-shaped network
    "unet_levels": 2,           # number of stride-2 down steps
    "time_embedding_dim": 64,   # sinusoidal embedding of t (diffusion only)
    "noise_dim": None,          # cgan: noise channels fed to G (None: = feature channels)
}


def standard_normal(shape: Tuple[int, ...], like: torch.Tensor,
                    generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """N(0, 1) samples of ``shape`` with the dtype and device of ``like``.

    Drawn on the generator's device when one is given (a CPU generator also serves CUDA
    features: the draw is moved), so the same generator state gives the same numbers.
    """
    device = generator.device if generator is not None else like.device
    samples = torch.randn(shape, generator=generator, device=device, dtype=like.dtype)
    return samples.to(like.device)


def _require_int(config: Mapping[str, Any], key: str, minimum: int) -> int:
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value \
            or value < minimum:
        raise ValueError(f"generative.{key} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _require_float(config: Mapping[str, Any], key: str, low: float, high: float,
                   low_inclusive: bool) -> float:
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"generative.{key} must be a number, got {value!r}")
    above = value >= low if low_inclusive else value > low
    if not (above and value < high):
        bracket = "[" if low_inclusive else "("
        raise ValueError(f"generative.{key} must be in {bracket}{low}, {high}), got {value!r}")
    return float(value)


def resolve_config(config: Mapping[str, Any], channels: int) -> Dict[str, Any]:
    """Defaults merged with ``config``, every value checked.

    Args:
        config: the ``generative`` section of a preset (a subset of :data:`DEFAULT_CONFIG`).
        channels: feature channels C (the default of ``noise_dim``).

    Returns:
        A complete, validated config (``noise_dim`` resolved to an int).

    Raises:
        ValueError: an unknown key (the message lists the valid ones) or a bad value (the
            message names the key, the expected range and the value got).
    """
    if not isinstance(config, Mapping):
        raise ValueError(f"generative config must be a mapping, got {type(config).__name__}")
    merged = merge_overrides(DEFAULT_CONFIG, config, "generative")
    timesteps = _require_int(merged, "timesteps", 1)
    if merged["beta_schedule"] not in BETA_SCHEDULES:
        raise ValueError(f"generative.beta_schedule must be one of {BETA_SCHEDULES}, "
                         f"got {merged['beta_schedule']!r}")
    if merged["prediction"] not in PREDICTIONS:
        raise ValueError(f"generative.prediction must be one of {PREDICTIONS}, "
                         f"got {merged['prediction']!r}")
    if merged["head_input"] not in HEAD_INPUTS:
        raise ValueError(f"generative.head_input must be one of {HEAD_INPUTS}, "
                         f"got {merged['head_input']!r}")
    merged["timesteps"] = timesteps
    merged["beta_start"] = _require_float(merged, "beta_start", 0.0, 1.0, False)
    merged["beta_end"] = _require_float(merged, "beta_end", 0.0, 1.0, False)
    if merged["beta_end"] < merged["beta_start"]:
        raise ValueError(f"generative.beta_end ({merged['beta_end']}) must be >= beta_start "
                         f"({merged['beta_start']})")
    merged["sampling_steps"] = _require_int(merged, "sampling_steps", 1)
    if merged["sampling_steps"] > timesteps:
        raise ValueError(f"generative.sampling_steps must be <= timesteps ({timesteps}), "
                         f"got {merged['sampling_steps']}")
    merged["eta"] = _require_float(merged, "eta", 0.0, math.inf, True)
    merged["unet_channels"] = _require_int(merged, "unet_channels", 1)
    merged["unet_levels"] = _require_int(merged, "unet_levels", 0)
    embedding = _require_int(merged, "time_embedding_dim", 2)
    if embedding % 2:
        raise ValueError(f"generative.time_embedding_dim must be even (sine and cosine "
                         f"halves), got {embedding}")
    merged["time_embedding_dim"] = embedding
    if merged["noise_dim"] is None:
        merged["noise_dim"] = channels
    merged["noise_dim"] = _require_int(merged, "noise_dim", 1)
    return merged


class GenerativeFusion(nn.Module, abc.ABC):
    """A generative fusion block (GMMT): two modality features in, one fused feature out.

    Subclasses set :attr:`kind` and implement :meth:`forward` (inference) and
    :meth:`generator_losses` (training, generator side); the cGAN also overrides
    :meth:`discriminator_loss` and :meth:`discriminator_parameters`.

    Args:
        channels: feature channels C of both inputs and of the output.
        config: the validated ``generative`` config (see :func:`resolve_config`).
    """

    kind: str = ""

    def __init__(self, channels: int, config: Mapping[str, Any]) -> None:
        super().__init__()
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise ValueError(f"channels must be an integer >= 1, got {channels!r}")
        self.channels = channels
        self.config = dict(config)

    def check_features(self, **features: torch.Tensor) -> None:
        """Every named tensor is (B, C, H, W) with this block's C, and all share one shape.

        Raises:
            ValueError: naming the tensor, the expected and the actual shape.
        """
        reference: Optional[Tuple[str, torch.Size]] = None
        for name, tensor in features.items():
            if not isinstance(tensor, torch.Tensor) or tensor.ndim != 4 \
                    or tensor.shape[1] != self.channels:
                shape = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor)
                raise ValueError(f"{name} must be (B, {self.channels}, H, W), got {shape}")
            if reference is None:
                reference = (name, tensor.shape)
            elif tensor.shape != reference[1]:
                raise ValueError(f"{name} has shape {tuple(tensor.shape)} but "
                                 f"{reference[0]} has {tuple(reference[1])}; they must match")

    @abc.abstractmethod
    def forward(self, f_rgb: torch.Tensor, f_thermal: torch.Tensor,
                generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Inference: the fused feature (B, C, H, W) from f_rgb, f_thermal (B, C, H, W).

        Random draws (initial noise) use ``generator`` when given: the same generator state
        gives a bit-identical output.
        """

    @abc.abstractmethod
    def generator_losses(self, f_rgb: torch.Tensor, f_thermal: torch.Tensor,
                         target_fused: torch.Tensor,
                         generator: Optional[torch.Generator] = None
                         ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """Training, generator side.

        Args:
            f_rgb, f_thermal: the conditions (B, C, H, W).
            target_fused: the original fused feature (B, C, H, W), the paper's *fused*.
            generator: optional source of the random draws (t, noise).

        Returns:
            (fused feature (B, C, H, W) for the tracking head, differentiable w.r.t.
            :meth:`generator_parameters`; dict of losses whose ``"gen"`` entry is the
            paper's Loss_gen for the generator side).
        """

    def discriminator_loss(self, f_rgb: torch.Tensor, f_thermal: torch.Tensor,
                           target_fused: torch.Tensor,
                           fake: torch.Tensor) -> Optional[torch.Tensor]:
        """Loss_D of the cGAN; None for kinds without a discriminator."""
        return None

    def generator_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters trained with Loss_gen (the U-net / G): all of them by default."""
        return self.parameters()

    def discriminator_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters trained with Loss_D: none by default."""
        return iter(())


def build_generative_fusion(kind: str, channels: int,
                            config: Mapping[str, Any]) -> GenerativeFusion:
    """The generative fusion block of ``kind`` for C = ``channels`` feature channels.

    Args:
        kind: "diffusion", "cgan" or "raw".
        channels: feature channels C.
        config: the ``generative`` section of the preset (keys of :data:`DEFAULT_CONFIG`;
            missing keys take the defaults).

    Raises:
        ValueError: unknown kind, unknown config key, or a bad value.
    """
    # Imported here: the subclasses import this module.
    from rgbt_tracking.nn.fusion.cgan import CGANFusion
    from rgbt_tracking.nn.fusion.diffusion import DiffusionFusion
    from rgbt_tracking.nn.fusion.raw import RawFusion

    classes = {"diffusion": DiffusionFusion, "cgan": CGANFusion, "raw": RawFusion}
    if kind not in classes:
        raise ValueError(f"generative fusion kind must be one of {KINDS}, got {kind!r}")
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise ValueError(f"channels must be an integer >= 1, got {channels!r}")
    return classes[kind](channels, resolve_config(config, channels))
