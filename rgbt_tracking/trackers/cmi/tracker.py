"""The ``cmi`` tracker: MDNet's online procedure on CMI's cross-modal interaction features.

Xu et al., CMI (2023): the sampling / classification frame of RT-MDNet with the interaction
module (Eq. 1-3) between the two modalities' conv3 maps; preset key ``interaction``
chooses the levels: "pixel", "relation" or "both" (the full model). The top-k candidates
give the box and the regression refines it ("the top-k confident candidates can be used to
regress the final location"). The procedure is
:class:`~rgbt_tracking.trackers.mdnet_rgbt.online.MDNetRGBTTracker`. Preset:
``config/trackers/cmi.yaml``.
"""
from __future__ import annotations

from rgbt_tracking.trackers.mdnet_rgbt.online import MDNetRGBTTracker


class CMITracker(MDNetRGBTTracker):
    """CMI (preset ``cmi``): cross-modal interaction, MDNet online procedure."""

    name = "cmi"
    fusion = "cmi"
    task = "cmi"
