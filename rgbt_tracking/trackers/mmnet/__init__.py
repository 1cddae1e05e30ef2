"""MMNet: a multi-task Siamese matching network for thermal-infrared tracking.

Liu, Li, He, Fan, Yuan, Liu, Liang, "Multi-Task Driven Feature Models for Thermal Infrared
Tracking", AAAI 2020. A shared AlexNet without padding (SiamFC / CFNet) feeds a
discriminative matching branch (conv5, CFNet's correlation-filter block, Eq. 1-2), an
auxiliary classification branch used in training only (global average pooling, 1x1
convolution, cross-entropy, Eq. 3) and a fine-grained matching branch (conv3 through the
fine-grained aware network FANet, Eq. 4-9); tracking takes the arg-max of the sum of both
similarity maps (Eq. 11) over a SiamFC scale pyramid, with CFNet's rolling-average template
update. The tracker reads the thermal image only.
"""
