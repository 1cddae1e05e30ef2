"""M5L's attention-based fusion (Eq. 16) against a direct numpy computation."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rgbt_tracking.trackers.m5l.attention_fusion import AttentionFusion

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def direct_conv_same(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Zero-padded 'same' cross-correlation by loops: x (C, H, W), weight (O, C, k, k)."""
    out_c, in_c, k, _ = weight.shape
    pad = k // 2
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    _, height, width = x.shape
    out = np.zeros((out_c, height, width))
    for o in range(out_c):
        for i in range(height):
            for j in range(width):
                out[o, i, j] = bias[o] + np.sum(weight[o] * padded[:, i:i + k, j:j + k])
    return out


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@pytest.mark.parametrize("kernel_size", [1, 3])
def test_matches_equation_16(kernel_size):
    torch.manual_seed(0)
    fusion = AttentionFusion(channels=3, kernel_size=kernel_size).double()
    rgb = torch.randn(2, 3, 3, 4, dtype=torch.float64)
    thermal = torch.randn(2, 3, 3, 4, dtype=torch.float64)
    fused = fusion(rgb, thermal).detach().numpy()
    assert fused.shape == (2, 6, 3, 4) and fusion.out_channels == 6
    for n in range(2):
        halves = []
        for features, conv in ((rgb, fusion.rgb_attention), (thermal, fusion.thermal_attention)):
            d = features[n].numpy()
            logits = direct_conv_same(d, conv.weight.detach().numpy(), conv.bias.detach().numpy())
            attention = sigmoid(np.maximum(logits, 0.0))           # conv -> ReLU -> sigmoid
            halves.append(attention * d)                             # sigma(D) (x) D
        np.testing.assert_allclose(fused[n], np.concatenate(halves), rtol=1e-12, atol=1e-12)


def test_attention_values_by_hand():
    # 1x1 convolution with weight 2 and bias -1 on one channel: logits 2d - 1;
    # d = 1 -> sigmoid(1) = 0.7311 -> fused 0.7311; d = -3 -> ReLU(-7) = 0 -> 0.5 * -3 = -1.5
    fusion = AttentionFusion(channels=1, kernel_size=1)
    with torch.no_grad():
        for conv in (fusion.rgb_attention, fusion.thermal_attention):
            conv.weight.fill_(2.0)
            conv.bias.fill_(-1.0)
    d = torch.tensor([1.0, -3.0]).reshape(1, 1, 1, 2)
    fused = fusion(d, d)
    want = torch.tensor([1.0 / (1.0 + float(np.exp(-1.0))), -1.5])
    torch.testing.assert_close(fused[0, 0, 0], want)
    torch.testing.assert_close(fused[0, 1, 0], want)
    rgb_attention, _ = fusion.attentions(d, d)
    assert rgb_attention.min().item() >= 0.5


def test_bad_inputs_raise():
    fusion = AttentionFusion(channels=4)
    with pytest.raises(ValueError, match="rgb features"):
        fusion(torch.zeros(1, 3, 3, 3), torch.zeros(1, 3, 3, 3))
    with pytest.raises(ValueError, match="thermal features"):
        fusion(torch.zeros(1, 4, 3, 3), torch.zeros(1, 4, 2, 3))
    with pytest.raises(ValueError, match="kernel_size"):
        AttentionFusion(channels=4, kernel_size=2)
