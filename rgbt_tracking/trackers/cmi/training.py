"""Training of CMI (``rgbt-track train cmi``): RT-MDNet's multi-domain training
(:class:`~rgbt_tracking.trackers.mdnet_rgbt.training.MDNetRGBTTraining`) with the
cross-modal interaction module between the conv3 maps (``model.interaction``: pixel,
relation or both) and the binary cross-entropy of the fully connected layers (the paper:
"three fully connected layers followed by the cross-entropy loss function"), plus
RT-MDNet's instance embedding loss (``loss.instance_weight``; CMI's text does not mention
it, RT-MDNet, its base, uses it).
"""
from __future__ import annotations

from rgbt_tracking.trackers.mdnet_rgbt.training import MDNetRGBTTraining


class CMITraining(MDNetRGBTTraining):
    """CMI's offline training (config ``config/training/cmi.yaml``)."""

    name = "cmi"
    fusion = "cmi"
    tracker_name = "cmi"
