"""A tiny trained-looking stage-one checkpoint for the GMMT tests."""
from pathlib import Path

import pytest
import torch

SMALL_MODEL = {"backbone": "resnet18", "backbone_layer": "layer2", "neck_channels": 8,
               "head_channels": 8, "template_feature_size": 7, "template_size": 63,
               "search_size": 127}
SMALL_GENERATIVE = {"timesteps": 100, "sampling_steps": 2, "unet_channels": 8,
                    "unet_levels": 1, "time_embedding_dim": 8}


@pytest.fixture(scope="session")
def stage_one_checkpoint(tmp_path_factory) -> Path:
    """A siam_rgbt checkpoint whose batch-norm statistics are not the defaults (so a reset
    or an update of them would show)."""
    from rgbt_tracking.train.checkpoint import build_checkpoint, save_checkpoint
    from rgbt_tracking.trackers.siam_rgbt.model_loading import network_from_config

    torch.manual_seed(0)
    net = network_from_config(SMALL_MODEL)
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    config = {"model": dict(SMALL_MODEL), "trainer": {"epochs": 1, "batch_size": 1}}
    folder = tmp_path_factory.mktemp("stage_one")
    return save_checkpoint(folder, build_checkpoint("siam_rgbt", config, 1, net, {}, {}, {},
                                                    {"tracker": "siam_rgbt"}))
