"""gmmt: the generative-based fusion mechanism for multi-modal tracking on the Siamese
RGB-T baseline (Tang, Xu, Wu, Zhu, Kittler, AAAI 2024).

The baseline's fusion block is replaced by a generative block
(:func:`rgbt_tracking.nn.fusion.build_generative_fusion`: a DDIM-sampled diffusion model,
a conditional GAN's generator, or the "raw" U-net) that produces the fused feature from the
two modalities' features; a fresh head reads it. Trained in a second stage on top of a
trained ``siam_rgbt`` whose backbones and fusion block stay frozen (the fusion block only
provides the target ``fused`` and is dropped at inference).
"""
