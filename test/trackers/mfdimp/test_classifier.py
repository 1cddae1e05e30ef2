"""DiMP's model predictor against its definitions (DiMP Eq. 3-6, mfDiMP Sec. 3)."""
import math

import pytest
import torch

from rgbt_tracking.trackers.mfdimp.classifier import (
    SteepestDescentOptimizer,
    TargetClassifier,
    apply_filter,
    apply_filter_transpose,
    box_centres_in_score_map,
    distance_basis,
    score_map_size,
)

torch.manual_seed(0)


def test_filter_transpose_is_the_adjoint():
    x = torch.randn(3, 2, 5, 7, 9, dtype=torch.float64)
    f = torch.randn(2, 5, 4, 4, dtype=torch.float64)
    scores = apply_filter(x, f)
    assert scores.shape == (3, 2) + score_map_size((7, 9), 4)
    r = torch.randn_like(scores)
    lhs = (scores * r).sum()
    rhs = (f * apply_filter_transpose(x, r, 4)).sum()
    assert torch.allclose(lhs, rhs)


def test_apply_filter_matches_direct_correlation():
    x = torch.randn(1, 1, 2, 6, 6, dtype=torch.float64)
    f = torch.randn(1, 2, 3, 3, dtype=torch.float64)
    s = apply_filter(x, f)[0, 0]
    padded = torch.nn.functional.pad(x[0, 0], (1, 1, 1, 1))
    direct = torch.zeros(6, 6, dtype=torch.float64)
    for i in range(6):
        for j in range(6):
            direct[i, j] = (padded[:, i:i + 3, j:j + 3] * f[0]).sum()
    assert torch.allclose(s, direct)


def test_distance_basis_is_the_triangular_expansion():
    d = torch.tensor([0.0, 0.05, 0.37, 1.0, 50.0]).reshape(-1, 1, 1, 1)
    basis = distance_basis(d, num_bins=10, bin_displacement=0.1)[:, :, 0, 0]
    # partition of unity and interpolation of the bin centres
    assert torch.allclose(basis.sum(dim=1), torch.ones(5))
    assert basis[0, 0] == 1.0
    assert torch.isclose(basis[1, 0], torch.tensor(0.5)) and torch.isclose(basis[1, 1],
                                                                           torch.tensor(0.5))
    assert torch.isclose(basis[2, 3], torch.tensor(0.3)) and torch.isclose(basis[2, 4],
                                                                           torch.tensor(0.7))
    assert basis[4, -1] == 1.0 and basis[3, -1] == 1.0   # constant beyond the last bin


def test_target_centre_lands_on_the_score_cell_of_its_filter_position():
    # A filter of ones over a single bright feature cell peaks where the filter is centred
    # on that cell; box_centres_in_score_map must give the same place.
    stride, k = 16.0, 4
    x = torch.zeros(1, 1, 1, 10, 10)
    x[0, 0, 0, 6, 3] = 1.0
    f = torch.zeros(1, 1, k, k)
    f[0, 0, 1:3, 1:3] = 1.0       # symmetric 2x2 core: centred at (k-1)/2
    s = apply_filter(x, f)[0, 0]
    box = torch.tensor([3 * stride - 5, 6 * stride - 5, 10.0, 10.0])
    cx, cy = box_centres_in_score_map(box, stride, k).tolist()
    peak = s == s.max()
    rows, cols = torch.nonzero(peak, as_tuple=True)
    assert float(rows.float().mean()) == pytest.approx(cy)
    assert float(cols.float().mean()) == pytest.approx(cx)


def _problem(mask_factor=3.0):
    opt = SteepestDescentOptimizer(num_iter=5, feature_stride=16.0, init_step_length=1.0,
                                   init_filter_reg=0.1, num_dist_bins=20,
                                   bin_displacement=0.5, mask_init_factor=mask_factor)
    x = torch.randn(4, 2, 8, 9, 9)
    boxes = torch.tensor([40.0, 50.0, 30.0, 20.0]).repeat(4, 2, 1)
    f0 = 0.01 * torch.randn(2, 8, 4, 4)
    return opt, x, boxes, f0


def test_steepest_descent_reduces_the_discriminative_loss():
    opt, x, boxes, f0 = _problem()
    with torch.no_grad():
        _, iterates, losses = opt(f0, x, boxes, num_iter=5, compute_losses=True)
    assert len(iterates) == 6 and len(losses) == 6
    values = torch.stack(losses)            # (iterations + 1, Nseq)
    assert torch.all(values[1:] <= values[:-1] + 1e-6)
    assert torch.all(values[-1] < 0.7 * values[0])


def test_gauss_newton_step_is_the_exact_line_minimum_when_the_loss_is_quadratic():
    # With the target mask at 1 everywhere the residual is linear in f, so the loss along
    # -g is a parabola and DiMP's alpha = ||g||^2 / (||Jg||^2 + lambda ||g||^2) minimises it.
    opt, x, boxes, f0 = _problem()
    with torch.no_grad():
        opt.target_mask_predictor[0].weight.fill_(50.0)   # sigmoid -> 1
        _, iterates, _ = opt(f0, x, boxes, num_iter=1)
        step = iterates[1] - f0

        def loss(f):
            _, _, ls = opt(f, x, boxes, num_iter=0, compute_losses=True)
            return ls[0]

        best = loss(f0 + step)
        for scale in (0.8, 1.2):
            assert torch.all(loss(f0 + scale * step) >= best - 1e-6)


def test_initialiser_pools_the_target_and_averages_over_images():
    clf = TargetClassifier(input_dim=16, feature_dim=8, filter_size=4, num_dist_bins=10)
    feats = torch.randn(3, 2, 8, 10, 10)
    boxes = torch.tensor([30.0, 40.0, 40.0, 30.0]).repeat(3, 2, 1)
    f0 = clf.filter_initializer(feats, boxes)
    assert f0.shape == (2, 8, 4, 4)
    # averaging: initialising from one image repeated equals initialising from it alone
    single = clf.filter_initializer(feats[:1], boxes[:1])
    repeated = clf.filter_initializer(feats[:1].repeat(3, 1, 1, 1, 1), boxes)
    assert torch.allclose(single, repeated, atol=1e-6)
    final, iterates = clf.predict_filter(feats, boxes, num_iter=2)
    assert len(iterates) == 3 and torch.equal(final, iterates[-1])


def test_regularisation_has_a_floor():
    opt = SteepestDescentOptimizer(init_filter_reg=0.0, min_filter_reg=0.01, num_dist_bins=5)
    assert float(opt.regularization((2, 2)).detach()) == pytest.approx(0.01 ** 2 / 16)
    assert math.isfinite(float(opt.log_step_length.detach()))
