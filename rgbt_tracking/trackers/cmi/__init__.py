"""CMI: cross-modal interaction learning for RGB-T tracking.

Xu, Cui, Wang, Zhou, Yang, "Learning cross-modal interaction for RGB-T tracking", Sci.
China Inf. Sci. 66(1):119103, 2023. The sampling / binary-classification frame of RT-MDNet
(VGG-M conv features per modality, candidate regions, three fully connected layers with a
cross-entropy loss) with a cross-modal interaction module between the two convolutional
feature maps (``interaction``): pixel-level correlations per modality (Eq. 2) and a
relation-level interaction built from both (Eq. 3) guide the propagation of each modality's
features into the other, weighted by a learned balance factor and concatenated with the
original features (Eq. 1).

This package holds the network parts; the tracker and its training task are built on them
next.
"""
