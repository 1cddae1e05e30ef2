"""Network parts shared by the learned models: ResNet backbones, Precise RoI Pooling,
weight loading from local files, and the pix2pix RGB->thermal networks."""
