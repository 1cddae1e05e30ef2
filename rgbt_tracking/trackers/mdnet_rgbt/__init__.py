"""The RT-MDNet family of RGB-T trackers shared by M5L and CMI.

MDNet (Nam & Han, CVPR 2016) classifies candidate boxes sampled around the previous target
with fully connected layers on convolutional features, whose last layer is one branch per
training sequence (multi-domain learning) and a fresh branch per test sequence; RT-MDNet
(Jung et al., ECCV 2018) reads every candidate from one convolutional pass over a region
around the target with adaptive RoIAlign. M5L and CMI are two-stream (RGB, thermal)
versions with their own fusion of the two modalities' features:

* :mod:`candidates`: MDNet's sample generators ("gaussian", "uniform", "whole") and
  IoU-thresholded positive / negative sampling;
* :mod:`scene`: the region crop around the target (target scaled to ``target_px``) and the
  mapping of boxes to RoIs of the conv3 map;
* :mod:`network`: the RGB-T network with a configurable fusion ("m5l", "cmi", "concat"),
  fc4 / fc5 and per-domain fc6 branches, M5L's embedding module;
* :mod:`model_loading`: the network from a preset or a training checkpoint;
* :mod:`bbox_regression`: MDNet's ridge regression of the box on first-frame features;
* :mod:`online`: MDNet's online procedure as a :class:`~rgbt_tracking.core.tracker.Tracker`;
* :mod:`training`: the multi-domain offline training task (RT-MDNet minibatches).
"""
