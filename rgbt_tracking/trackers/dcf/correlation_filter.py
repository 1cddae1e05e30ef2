"""Multi-channel discriminative correlation filter (closed-form ridge regression in Fourier space).

The filter of Bolme et al. (MOSSE) extended to D feature channels as in Danelljan et al.
(DSST, BMVC 2014, Eq. 4-6): with features x^l (l = 1..D), desired Gaussian output g and
regularisation lambda, the optimal filter is

    H^l = conj(G) X^l / (sum_k conj(X^k) X^k + lambda)                     (DSST Eq. 4)

kept as a numerator A^l and a denominator B updated with learning rate eta

    A^l_t = (1 - eta) A^l_{t-1} + eta conj(G) X^l_t                         (DSST Eq. 5a)
    B_t   = (1 - eta) B_{t-1}   + eta sum_k conj(X^k_t) X^k_t               (DSST Eq. 5b)

and the response to a new sample z is y = F^-1{ sum_l conj(A^l) Z^l / (B + lambda) }
(DSST Eq. 6). Capital letters are 2-D DFTs; real FFTs (rfft2) are used throughout.
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import torch


def gaussian_label(size: Tuple[int, int], sigma: float, device: str | torch.device = "cpu",
                   dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Desired response g: a Gaussian peak at the origin, wrapped circularly.

    Args:
        size: (h, w) cells.
        sigma: standard deviation in cells.

    Returns:
        (h, w) float with g[0, 0] = 1.
    """
    h, w = size
    ys = torch.arange(h, dtype=dtype, device=device)
    xs = torch.arange(w, dtype=dtype, device=device)
    ys = torch.minimum(ys, h - ys)
    xs = torch.minimum(xs, w - xs)
    return torch.exp(-0.5 * (ys[:, None] ** 2 + xs[None, :] ** 2) / (sigma * sigma))


def cosine_window(size: Tuple[int, int], device: str | torch.device = "cpu",
                  dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Hann window (h, w) that tapers the sample towards its borders."""
    h, w = size
    wy = torch.hann_window(h + 2, periodic=False, dtype=dtype, device=device)[1:-1]
    wx = torch.hann_window(w + 2, periodic=False, dtype=dtype, device=device)[1:-1]
    return wy[:, None] * wx[None, :]


class CorrelationFilter:
    """One multi-channel filter over a fixed (h, w) cell grid.

    Args:
        grid_size: (h, w) cells of the feature maps it is trained and applied on.
        sigma: label standard deviation in cells.
        regularization: lambda of DSST Eq. 4.
        device: torch device.
    """

    def __init__(self, grid_size: Tuple[int, int], sigma: float, regularization: float,
                 device: str | torch.device = "cpu") -> None:
        self.grid_size = tuple(grid_size)
        self.regularization = float(regularization)
        self.window = cosine_window(self.grid_size, device)
        self.label_f = torch.fft.rfft2(gaussian_label(self.grid_size, sigma, device))
        self.numerator: Optional[torch.Tensor] = None    # (D, h, w//2+1) complex: A
        self.denominator: Optional[torch.Tensor] = None  # (h, w//2+1) real: B

    def _transform(self, features: torch.Tensor) -> torch.Tensor:
        return torch.fft.rfft2(features * self.window)

    def _check(self, features: torch.Tensor) -> None:
        if tuple(features.shape[-2:]) != self.grid_size:
            raise ValueError(f"features are {tuple(features.shape[-2:])} cells, the filter "
                             f"was built for {self.grid_size}")

    def update(self, features: torch.Tensor, learning_rate: float) -> None:
        """Train (first call) or blend in a new sample, DSST Eq. 5.

        Args:
            features: (D, h, w) features of a sample centred on the target.
            learning_rate: eta in [0, 1]; ignored on the first call (plain training).
        """
        self._check(features)
        sample_f = self._transform(features)
        numerator = torch.conj(self.label_f) * sample_f
        denominator = (sample_f.real ** 2 + sample_f.imag ** 2).sum(0)
        if self.numerator is None:
            self.numerator, self.denominator = numerator, denominator
        else:
            self.numerator = (1.0 - learning_rate) * self.numerator + learning_rate * numerator
            self.denominator = ((1.0 - learning_rate) * self.denominator
                                + learning_rate * denominator)

    def respond(self, features: torch.Tensor) -> torch.Tensor:
        """Correlation response, DSST Eq. 6.

        Args:
            features: (B, D, h, w) samples (one per scale).

        Returns:
            (B, h, w) real responses; index [0, 0] is zero displacement (circular layout).
        """
        if self.numerator is None or self.denominator is None:
            raise RuntimeError("the filter has not been trained")
        self._check(features)
        sample_f = self._transform(features)
        response_f = (torch.conj(self.numerator) * sample_f).sum(1)
        response_f = response_f / (self.denominator + self.regularization)
        return torch.fft.irfft2(response_f, s=self.grid_size)


def peak_to_sidelobe_ratio(response: torch.Tensor, exclude: int = 2) -> torch.Tensor:
    """PSR of Bolme et al. (MOSSE): (peak - mean_sidelobe) / std_sidelobe.

    The sidelobe is the response outside a (2 * exclude + 1)^2 cell square around the peak
    (the response is circular, so the square wraps).

    Args:
        response: (h, w) real response.

    Returns:
        scalar tensor; about 20-60 for a sharp single peak, below ~6 for noise.
    """
    h, w = response.shape
    flat = int(torch.argmax(response))
    py, px = divmod(flat, w)
    mask = torch.ones_like(response, dtype=torch.bool)
    rows = torch.arange(py - exclude, py + exclude + 1, device=response.device) % h
    cols = torch.arange(px - exclude, px + exclude + 1, device=response.device) % w
    mask[rows[:, None], cols[None, :]] = False
    sidelobe = response[mask]
    std = sidelobe.std()
    return (response.reshape(-1)[flat] - sidelobe.mean()) / (std + 1e-8)


def subpixel_peak(response: torch.Tensor) -> Tuple[float, float, float]:
    """Peak location with parabolic refinement along each axis.

    Args:
        response: (h, w) circular response (index 0 = no shift).

    Returns:
        (dy, dx, value): signed displacement in cells (wrapped to [-h/2, h/2)) and the
        peak value.
    """
    h, w = response.shape
    flat = int(torch.argmax(response))
    py, px = divmod(flat, w)
    centre = float(response[py, px])

    def refine(prev: float, nxt: float) -> float:
        denom = prev - 2.0 * centre + nxt
        if abs(denom) < 1e-12:
            return 0.0
        return max(-0.5, min(0.5, 0.5 * (prev - nxt) / denom))

    dy = py + refine(float(response[(py - 1) % h, px]), float(response[(py + 1) % h, px]))
    dx = px + refine(float(response[py, (px - 1) % w]), float(response[py, (px + 1) % w]))
    dy = dy - h if dy >= h / 2 else dy
    dx = dx - w if dx >= w / 2 else dx
    if not (math.isfinite(dy) and math.isfinite(dx)):
        return 0.0, 0.0, centre
    return dy, dx, centre
