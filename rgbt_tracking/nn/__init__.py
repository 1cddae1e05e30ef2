"""Network parts shared by the learned trackers: ResNet backbones, Precise RoI Pooling, weight loading."""
