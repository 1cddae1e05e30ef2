"""CMI's cross-modal interaction (Eq. 1-3) against a direct numpy computation by loops."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rgbt_tracking.trackers.cmi.interaction import CrossModalInteraction

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def conv1x1(x: np.ndarray, conv: torch.nn.Conv2d) -> np.ndarray:
    """1x1 convolution of (C, H, W) at every position: (N, out) rows in raster order."""
    weight = conv.weight.detach().numpy()[:, :, 0, 0]
    bias = conv.bias.detach().numpy()
    channels, height, width = x.shape
    rows = []
    for i in range(height):
        for j in range(width):
            rows.append([bias[o] + sum(weight[o, c] * x[c, i, j] for c in range(channels))
                         for o in range(weight.shape[0])])
    return np.array(rows)


def row_softmax(scores: np.ndarray) -> np.ndarray:
    out = np.zeros_like(scores)
    for i in range(scores.shape[0]):
        e = np.exp(scores[i] - scores[i].max())
        out[i] = e / e.sum()
    return out


def pixel_correlation_by_loops(q: np.ndarray, k: np.ndarray) -> np.ndarray:
    n, d = q.shape
    scores = np.array([[sum(q[i, c] * k[j, c] for c in range(d)) / math.sqrt(d) for j in range(n)]
                       for i in range(n)])
    return row_softmax(scores)                                   # Eq. 2


def propagate_by_loops(w: np.ndarray, values: np.ndarray) -> np.ndarray:
    """out position i = sum_j W[i, j] v_j; values (N, C) -> (N, C)."""
    n = w.shape[0]
    return np.array([sum(w[i, j] * values[j] for j in range(n)) for i in range(n)])


def direct(module: CrossModalInteraction, rgb: np.ndarray, thermal: np.ndarray):
    """F'_R, F'_T of Eq. 1 for one sample; each (out_channels, H, W)."""
    channels, height, width = rgb.shape
    w_r = pixel_correlation_by_loops(conv1x1(rgb, module.rgb_query), conv1x1(rgb, module.rgb_key))
    w_t = pixel_correlation_by_loops(conv1x1(thermal, module.thermal_query),
                                     conv1x1(thermal, module.thermal_key))
    w_rel = row_softmax(w_t * w_r)                               # Eq. 3, element-wise
    v_r, v_t = conv1x1(rgb, module.rgb_value), conv1x1(thermal, module.thermal_value)
    to_rgb, to_thermal = [rgb], [thermal]
    for level in module.levels:
        if level == "pixel":
            guide_rgb, guide_thermal = (w_t, w_r) if module.pixel_guide == "source" else (w_r, w_t)
        else:
            guide_rgb = guide_thermal = w_rel
        lam_r = module.balance[f"{level}_to_rgb"].item()
        lam_t = module.balance[f"{level}_to_thermal"].item()
        to_rgb.append(lam_r * propagate_by_loops(guide_rgb, v_t).T.reshape(channels, height, width))
        to_thermal.append(lam_t * propagate_by_loops(guide_thermal, v_r).T.reshape(channels, height, width))
    return np.concatenate(to_rgb), np.concatenate(to_thermal), (w_r, w_t, w_rel)


@pytest.mark.parametrize("mode, guide", [("pixel", "source"), ("pixel", "target"),
                                         ("relation", "source"), ("both", "source")])
def test_matches_equations_1_to_3(mode, guide):
    torch.manual_seed(0)
    module = CrossModalInteraction(3, mode=mode, key_channels=2, pixel_guide=guide).double()
    with torch.no_grad():
        for index, value in enumerate(module.balance.values()):
            value.fill_(0.5 + 0.25 * index)                      # distinct lambdas
    rgb = torch.randn(2, 3, 2, 3, dtype=torch.float64)
    thermal = torch.randn(2, 3, 2, 3, dtype=torch.float64)
    out_rgb, out_thermal = module(rgb, thermal)
    assert out_rgb.shape == out_thermal.shape == (2, module.out_channels, 2, 3)
    correlations = module.correlations(rgb, thermal)
    for b in range(2):
        want_rgb, want_thermal, (w_r, w_t, w_rel) = direct(module, rgb[b].numpy(), thermal[b].numpy())
        np.testing.assert_allclose(out_rgb[b].detach().numpy(), want_rgb, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(out_thermal[b].detach().numpy(), want_thermal, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(correlations["rgb_pixel"][b].detach().numpy(), w_r, rtol=1e-10)
        np.testing.assert_allclose(correlations["thermal_pixel"][b].detach().numpy(), w_t, rtol=1e-10)
        if mode != "pixel":
            np.testing.assert_allclose(correlations["relation"][b].detach().numpy(), w_rel, rtol=1e-10)


def test_output_channels_and_original_features_kept():
    rgb, thermal = torch.randn(1, 4, 3, 3), torch.randn(1, 4, 3, 3)
    assert CrossModalInteraction(4, mode="pixel").out_channels == 8
    assert CrossModalInteraction(4, mode="relation").out_channels == 8
    both = CrossModalInteraction(4, mode="both")
    assert both.out_channels == 12
    out_rgb, out_thermal = both(rgb, thermal)
    torch.testing.assert_close(out_rgb[:, :4], rgb)              # psi keeps F_R first
    torch.testing.assert_close(out_thermal[:, :4], thermal)


def test_constant_values_propagate_unchanged_and_lambda_scales():
    # rows of W sum to one: a value map constant over positions is propagated as is, so
    # F_{T->R} = V_T and the propagated half is lambda * (w_v * t + b_v).
    module = CrossModalInteraction(1, mode="pixel", balance_init=0.5)
    with torch.no_grad():
        module.thermal_value.weight.fill_(2.0)
        module.thermal_value.bias.fill_(1.0)
    thermal = torch.full((1, 1, 2, 2), 3.0)
    out_rgb, _ = module(torch.randn(1, 1, 2, 2), thermal)
    torch.testing.assert_close(out_rgb[:, 1], torch.full((1, 2, 2), 0.5 * 7.0))


def test_gradients_reach_every_projection_and_lambda():
    module = CrossModalInteraction(2, mode="both")
    out_rgb, out_thermal = module(torch.randn(1, 2, 2, 2), torch.randn(1, 2, 2, 2))
    (out_rgb.square().sum() + out_thermal.square().sum()).backward()
    for name, parameter in module.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="mode must be one of"):
        CrossModalInteraction(4, mode="channel")
    with pytest.raises(ValueError, match="pixel_guide"):
        CrossModalInteraction(4, pixel_guide="both")
    with pytest.raises(ValueError, match="rgb features"):
        CrossModalInteraction(4)(torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, 2))
    with pytest.raises(ValueError, match="thermal features"):
        CrossModalInteraction(4)(torch.zeros(1, 4, 2, 2), torch.zeros(1, 4, 2, 3))
