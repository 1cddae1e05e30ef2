"""The ``m5l`` tracker: MDNet's online procedure on M5L's attention-fused RGB-T features.

Tu et al., M5L, Sec. IV-B ("In the course of tracking, major processes are consistent with
training phase"): VGG-M conv1-3 per modality, the attention-based fusion (Eq. 16), three
fully connected layers whose last one is learnt per test sequence, short- and long-term
updates, 256 Gaussian candidates, bounding-box regression. The procedure is
:class:`~rgbt_tracking.trackers.mdnet_rgbt.online.MDNetRGBTTracker`; the embedding module
and the MMSL loss act in offline training only (:mod:`rgbt_tracking.trackers.m5l.training`).
Preset: ``config/trackers/m5l.yaml``.
"""
from __future__ import annotations

from rgbt_tracking.trackers.mdnet_rgbt.online import MDNetRGBTTracker


class M5LTracker(MDNetRGBTTracker):
    """M5L (preset ``m5l``): attention fusion, MDNet online procedure."""

    name = "m5l"
    fusion = "m5l"
    task = "m5l"
