"""MDNet's bounding-box regression (Nam & Han, CVPR 2016, Sec. 3.5; after R-CNN).

Trained once on the first frame: ``n`` boxes drawn around the ground truth g (MDNet:
1000 "uniform" boxes of IoU >= 0.6), their features x (here the fused RoI features that
enter fc4: MDNet uses conv3 features) and the targets of R-CNN (Girshick et al. 2014,
Appendix C) for a box p:

    t_x = (g_cx - p_cx) / p_w,   t_y = (g_cy - p_cy) / p_h,
    t_w = log(g_w / p_w),        t_h = log(g_h / p_h).

Ridge regression with an unregularised intercept (MDNet fits scikit-learn's ``Ridge``,
alpha 1000): with centred X_c = X - mean(X) and T_c = T - mean(T),

    W = (X_c^T X_c + alpha I)^-1 X_c^T T_c = X_c^T (X_c X_c^T + alpha I)^-1 T_c,

the second (dual) form is solved when there are fewer samples than feature dimensions
(an n x n instead of a D x D system). Prediction: ``t = (x - mean(X)) W + mean(T)``, then
the box moves by t as above.
"""
from __future__ import annotations

import numpy as np
import torch


def regression_targets(boxes: np.ndarray, ground_truth: np.ndarray) -> np.ndarray:
    """R-CNN targets (N, 4) [t_x, t_y, t_w, t_h] of (N, 4) x y w h boxes towards one box."""
    p = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    g = np.asarray(ground_truth, dtype=np.float64).reshape(4)
    p_centre = p[:, :2] + p[:, 2:] / 2.0
    g_centre = g[:2] + g[2:] / 2.0
    return np.concatenate([(g_centre[None, :] - p_centre) / p[:, 2:],
                           np.log(g[None, 2:] / p[:, 2:])], axis=1)


def apply_targets(boxes: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Move (N, 4) x y w h boxes by (N, 4) targets (inverse of :func:`regression_targets`)."""
    p = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    t = np.asarray(targets, dtype=np.float64).reshape(-1, 4)
    centre = p[:, :2] + p[:, 2:] / 2.0 + t[:, :2] * p[:, 2:]
    size = p[:, 2:] * np.exp(t[:, 2:])
    return np.concatenate([centre - size / 2.0, size], axis=1)


class BoxRegressor:
    """Ridge regression from RoI features to box targets (see the module docstring).

    Args:
        alpha: ridge penalty (MDNet: 1000).
    """

    def __init__(self, alpha: float = 1000.0) -> None:
        if not alpha > 0:
            raise ValueError(f"bounding-box regression alpha must be positive, got {alpha}")
        self.alpha = float(alpha)
        self.weights: torch.Tensor | None = None
        self.feature_mean: torch.Tensor | None = None
        self.target_mean: torch.Tensor | None = None

    @property
    def fitted(self) -> bool:
        return self.weights is not None

    def fit(self, features: torch.Tensor, boxes: np.ndarray, ground_truth: np.ndarray) -> None:
        """Solve for W from (N, D) features of (N, 4) boxes around ``ground_truth``.

        Raises:
            ValueError: mismatched counts or no samples.
        """
        if features.dim() != 2 or features.shape[0] != len(boxes) or len(boxes) == 0:
            raise ValueError(f"bounding-box regression needs (N, D) features for N > 0 boxes, "
                             f"got features {tuple(features.shape)} and {len(boxes)} boxes")
        x = features.detach().double().cpu()
        t = torch.from_numpy(regression_targets(boxes, ground_truth))
        self.feature_mean, self.target_mean = x.mean(dim=0), t.mean(dim=0)
        xc, tc = x - self.feature_mean, t - self.target_mean
        n, d = xc.shape
        if n < d:
            gram = xc @ xc.T + self.alpha * torch.eye(n, dtype=xc.dtype)
            self.weights = xc.T @ torch.linalg.solve(gram, tc)
        else:
            gram = xc.T @ xc + self.alpha * torch.eye(d, dtype=xc.dtype)
            self.weights = torch.linalg.solve(gram, xc.T @ tc)

    def predict_targets(self, features: torch.Tensor) -> np.ndarray:
        """(N, 4) targets of (N, D) features."""
        if self.weights is None:
            raise RuntimeError("BoxRegressor.predict before fit")
        x = features.detach().double().cpu() - self.feature_mean
        return (x @ self.weights + self.target_mean).numpy()

    def predict(self, features: torch.Tensor, boxes: np.ndarray) -> np.ndarray:
        """Regressed (N, 4) x y w h boxes of (N, 4) boxes with their (N, D) features."""
        return apply_targets(boxes, self.predict_targets(features))
