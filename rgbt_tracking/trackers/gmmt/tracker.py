"""Online procedure of ``gmmt``: the ``siam_rgbt`` tracker with the generative fusion.

Everything but the fusion is :class:`~rgbt_tracking.trackers.siam_rgbt.tracker.SiamRGBTTracker`.

Per-frame randomness (diffusion: the initial noise x_T of DDIM; cgan: the generator's
noise): at each ``initialize()`` one seed is drawn for the sequence from a generator seeded
with the preset's ``sampling_seed``; every fusion of that sequence (the template's and each
frame's search features) restarts a generator from that seed. The same image therefore
gives the same fused feature in every frame, and with DDIM's ``eta = 0`` the sampling is
deterministic given x_T, so the box does not jitter from noise alone; a rerun of the same
sequences gives the same boxes. (Averaging several samples would cost a full sampling
each; with fixed noise it is not needed.)

Cost: one DDIM step is one U-net evaluation on the search features (31x31 cells for a
255-pixel search patch); ``generative.sampling_steps`` is the knob (see
``benchmarks/bench_siam_rgbt_speed.py`` and the preset).
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import torch

from rgbt_tracking.trackers.gmmt.model_loading import build_network, set_sampling_steps
from rgbt_tracking.trackers.gmmt.network import GMMTNet
from rgbt_tracking.trackers.siam_rgbt.network import SiameseRGBTBase
from rgbt_tracking.trackers.siam_rgbt.tracker import SiamRGBTTracker


class GMMTTracker(SiamRGBTTracker):
    """GMMT on the Siamese RGB-T baseline (``config/trackers/gmmt.yaml``).

    Args:
        params: the preset merged with overrides.
        device: "cpu" or "cuda[:N]".
        network: an in-memory (eval-mode) :class:`GMMTNet` instead of the preset's weights.
    """

    name = "gmmt"

    def __init__(self, params: Dict[str, Any], device: str = "cpu",
                 network: Optional[GMMTNet] = None) -> None:
        super().__init__(params, device, network)
        steps = self.params.get("generative", {}).get("sampling_steps")
        if steps is not None:
            set_sampling_steps(self.net, int(steps))
        self.seeds = torch.Generator().manual_seed(int(self.params["sampling_seed"]))
        self.sequence_seed = 0

    def _build_network(self, params: Dict[str, Any]
                       ) -> Tuple[SiameseRGBTBase, str, Dict[str, Any]]:
        return build_network(params)

    def _start_sequence(self) -> None:
        self.sequence_seed = int(torch.randint(0, 2 ** 62, (1,), generator=self.seeds))

    def _fuse(self, f_rgb: torch.Tensor, f_thermal: torch.Tensor) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.sequence_seed)
        return self.net.fuse(f_rgb, f_thermal, generator)
