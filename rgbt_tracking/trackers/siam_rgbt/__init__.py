"""siam_rgbt: the Siamese RGB-T baseline of GMMT (Tang et al., AAAI 2024).

One ResNet backbone per modality, a convolutional fusion block (concatenate, then conv),
and the anchor-free head of SiamBAN (Chen et al., CVPR 2020) with a single region proposal
branch: depth-wise cross-correlation of the fused template and search features, then a
classification (foreground / background) and a box-regression (l, t, r, b) tower. Online
tracking follows SiamBAN: cosine window, scale / aspect-ratio change penalty, size update
with a learning rate.
"""
