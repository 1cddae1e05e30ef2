"""CMI: cross-modal interaction learning for RGB-T tracking.

Xu, Cui, Wang, Zhou, Yang, "Learning cross-modal interaction for RGB-T tracking", Sci.
China Inf. Sci. 66(1):119103, 2023. The sampling / binary-classification frame of RT-MDNet
(VGG-M conv features per modality, candidate regions, three fully connected layers with a
cross-entropy loss) with a cross-modal interaction module between the two convolutional
feature maps (``interaction``): pixel-level correlations per modality (Eq. 2) and a
relation-level interaction built from both (Eq. 3) guide the propagation of each modality's
features into the other, weighted by a learned balance factor and concatenated with the
original features (Eq. 1).

Modules: ``interaction`` (Eq. 1-3), ``tracker``
(:class:`~rgbt_tracking.trackers.cmi.tracker.CMITracker`, ``build_tracker("cmi",
interaction="pixel"|"relation"|"both")``: the shared RGB-T MDNet of
:mod:`rgbt_tracking.trackers.mdnet_rgbt` with fusion "cmi" and MDNet's online procedure)
and ``training`` (``rgbt-track train cmi``: RT-MDNet's multi-domain training).
"""
