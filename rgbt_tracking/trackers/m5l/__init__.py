"""M5L: multi-modal multi-margin metric learning for RGB-T tracking.

Tu, Lin, Li, Tang, Luo, "M5L: Multi-Modal Multi-Margin Metric Learning for RGBT Tracking",
on top of RT-MDNet (Jung et al., ECCV 2018). One VGG-M conv1-3 per
modality (``rgbt_tracking.nn.vgg_m``) reads the whole frame; adaptive RoIAlign
(``rgbt_tracking.nn.roi_align``) takes the features of the ground truth (the anchor) and of
the sampled candidate boxes; a feature embedding module (FC + BN) is trained with the
multi-modal multi-margin structured loss (``mmsl_loss``, Eq. 4-15); the attention-based
fusion (``attention_fusion``, Eq. 16) weights and concatenates the two modalities for three
fully connected layers with dropout whose last layer is one per training sequence (MDNet's
multi-domain branches) and is re-learnt for each test sequence.

Modules: ``attention_fusion`` (Eq. 16), ``mmsl_loss`` (Eq. 4-15), ``tracker``
(:class:`~rgbt_tracking.trackers.m5l.tracker.M5LTracker`, ``build_tracker("m5l")``: the
shared RGB-T MDNet of :mod:`rgbt_tracking.trackers.mdnet_rgbt` with fusion "m5l" and
MDNet's online procedure: 256 Gaussian candidates, short- and long-term updates,
bounding-box regression) and ``training`` (``rgbt-track train m5l``: multi-domain training
with the classification loss plus the MMSL loss on the embeddings).
"""
