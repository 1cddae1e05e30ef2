"""Generative fusion blocks of GMMT (Tang et al., AAAI 2024): the fused RGB-T feature
produced by a conditional diffusion model (DDIM sampling), a conditional GAN, or the same
U-shaped network trained by plain regression (the paper's RAW control).

``build_generative_fusion(kind, channels, config)`` builds one from the ``generative``
section of a tracker preset; every block follows :class:`GenerativeFusion`.
"""
from rgbt_tracking.nn.fusion.base import DEFAULT_CONFIG, GenerativeFusion, build_generative_fusion
from rgbt_tracking.nn.fusion.cgan import CGANFusion
from rgbt_tracking.nn.fusion.diffusion import DiffusionFusion
from rgbt_tracking.nn.fusion.raw import RawFusion

__all__ = ["DEFAULT_CONFIG", "GenerativeFusion", "build_generative_fusion", "CGANFusion",
           "DiffusionFusion", "RawFusion"]
