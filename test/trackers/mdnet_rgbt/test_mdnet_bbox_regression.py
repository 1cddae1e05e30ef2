import numpy as np
import pytest
import torch

from rgbt_tracking.trackers.mdnet_rgbt.bbox_regression import (BoxRegressor, apply_targets,
                                                               regression_targets)


def _direct_ridge(x, t, alpha):
    """argmin ||X W + 1 b - T||^2 + alpha ||W||^2 as one least-squares problem
    [X 1; sqrt(alpha) I 0] [W; b] = [T; 0] (the intercept unregularised)."""
    n, d = x.shape
    design = np.block([[x, np.ones((n, 1))], [np.sqrt(alpha) * np.eye(d), np.zeros((d, 1))]])
    rhs = np.vstack([t, np.zeros((d, t.shape[1]))])
    solution = np.linalg.lstsq(design, rhs, rcond=None)[0]
    return solution[:d], solution[d]


def test_targets_by_hand_and_inverse():
    boxes = np.array([[10.0, 20.0, 40.0, 20.0]])
    gt = np.array([14.0, 18.0, 80.0, 10.0])   # centres (30, 30) -> (54, 23)
    np.testing.assert_allclose(regression_targets(boxes, gt),
                               [[24 / 40, -7 / 20, np.log(2.0), np.log(0.5)]])
    np.testing.assert_allclose(apply_targets(boxes, regression_targets(boxes, gt)), gt[None])


@pytest.mark.parametrize("count, dims", [(30, 50), (60, 8)])   # dual and primal branches
def test_closed_form_equals_direct_solve(count, dims):
    rng = np.random.default_rng(0)
    gt = np.array([50.0, 40.0, 30.0, 20.0])
    boxes = gt + rng.normal(0, 3, (count, 4)) * [1, 1, 0.3, 0.3]
    features = rng.normal(size=(count, dims))
    regressor = BoxRegressor(alpha=7.0)
    regressor.fit(torch.from_numpy(features), boxes, gt)
    weights, bias = _direct_ridge(features, regression_targets(boxes, gt), 7.0)
    queries = rng.normal(size=(5, dims))
    np.testing.assert_allclose(regressor.predict_targets(torch.from_numpy(queries)),
                               queries @ weights + bias, rtol=1e-7, atol=1e-9)


def test_errors():
    with pytest.raises(ValueError, match="alpha"):
        BoxRegressor(alpha=0.0)
    with pytest.raises(ValueError, match="features"):
        BoxRegressor().fit(torch.zeros(3, 4), np.ones((2, 4)), np.ones(4))
    with pytest.raises(RuntimeError, match="before fit"):
        BoxRegressor().predict_targets(torch.zeros(1, 4))
