"""Target-free RGB-thermal calibration (``rgbt-track calibrate --method auto``).

Estimates the planar map (homography, affine or translation) that takes a thermal pixel
``(x, y, 1)`` to the RGB pixel it sees, from ordinary scene pairs, by maximising a
multimodal similarity coarse to fine, and refuses estimates it cannot trust.

Method and why
--------------
Intensities of a visible and a thermal image are not related by any fixed function: the
same edge can be dark-to-bright in one and bright-to-dark in the other, many edges exist in
only one modality, and the gradient *magnitudes* differ wildly (plain ECC on gradient
magnitude reaches a correlation of only 0.1-0.3 on the LLVIP pairs and converges 10-35 px
off). What the two modalities do share is the *orientation* of the edges they both see. We
therefore represent each image by a dense, polarity-free gradient-orientation field:

* gradients ``(gx, gy)`` of the lightly blurred image, magnitude ``m``;
* a saturating weight ``w = m² / (m² + k²)`` with ``k`` the 90th percentile of ``m``:
  strong edges count alike in both modalities whatever their contrast, while the weak,
  noisy gradients of the dark night-time visible images are suppressed;
* the double-angle vector ``w * (cos 2θ, sin 2θ)``, which is identical for an edge and
  its contrast-inverted copy (θ and θ+π give the same vector);
* a Gaussian smoothing of that two-channel field (a weighted structure-tensor
  orientation), which widens the basin of convergence.

The similarity is the zero-mean normalised correlation of the two-channel fields over the
overlap, i.e. the weighted mean of ``cos 2(θ_rgb - θ_thermal)``. It is maximised with the
ECC (enhanced correlation coefficient) Gauss-Newton update generalised to a multi-channel
vector, with the thermal image re-warped and its field recomputed at every iteration (so
rotations rotate the orientations correctly). The search is coarse to fine over an image
pyramid; at the coarsest level a global translation is first found by FFT
cross-correlation of the complex fields ``w·e^{2iθ}`` (no local minima for the shift), then
each level refines translation -> affine -> homography, each stage initialised by the
previous one.

Trust check
-----------
An estimate is trusted only when (1) the final similarity exceeds ``min_score``; (2) the
similarity at the estimate clearly exceeds the similarity at far-shifted alignments (the
same warped thermal field shifted by 1/8 and 1/4 of the image in 8 directions): the peak
must beat the best of those by ``min_margin`` absolute and ``min_ratio`` relative — an
unrelated image reaches no distinct peak; (3) the map is not degenerate: relative to the
nominal scaling the singular values of its linear part stay within ``[0.67, 1.5]``, the
perspective distortion of the image corners stays small, and the mapped thermal image
overlaps most of the RGB image.

Several pairs of one rig (:func:`calibrate_auto`)
------------------------------------------------
One scene pair constrains the image-corner positions of a homography weakly: the
structure both cameras see lies mostly in the middle of the image, and the two perspective
terms trade off against the scale there. Measured on the 12 LLVIP pairs (1280x1024,
published as aligned), the single-pair homographies lie 1.9-3.1 px from identity over the
central half of the image, 3.3-5.1 px over a 17x17 grid of the whole image, but 7.9-11 px
at the 4 corners, where they extrapolate; they agree within a scene (the 6 frames of a
scene give the same map to about 1 px in the centre). They are still an exact function of
the data: a perspective warp applied to the thermal image of one pair is recovered to
0.6 px at the corners. ``perspective_gain`` offers a model selection (keep the
perspective terms only when they raise the similarity over the affine fit by that much;
default 0: ``model="homography"`` fits a homography). ``calibrate_auto`` therefore, for the
homography model, starts from the median-corner fit of the trusted single-pair estimates
and refines ONE homography jointly over all of them: the ECC normal equations of every
pair, each pair's thermal image re-warped by the shared map, are summed before each
Gauss-Newton step; scenes of different depth structure pin the corners down (12 pairs of
two scenes: 4.2 px from identity at the corners, 1.9 px in the central half). The trust
tests are then applied to every pair at the joint map; the spread of the per-pair maps
about the median map over a grid of the image is the consistency test. A perspective warp
of 7.8 px at the corners applied to 4 pairs of two scenes is recovered to 0.45 px this way.

All inputs are processed internally at a working resolution of at most ``max_width``
pixels wide; the returned maps are in full-resolution pixels.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Sequence

import cv2
import numpy as np

from rgbt_tracking.alignment.calibration_file import Calibration, CalibrationError, now_iso

__all__ = ["AutoResult", "estimate_alignment", "calibrate_auto", "similarity", "MODELS"]

MODELS: tuple[str, ...] = ("translation", "affine", "homography")
_N_PARAMS: dict[str, int] = {"translation": 2, "affine": 6, "homography": 8}


@dataclass
class AutoResult:
    """Outcome of one target-free alignment estimate.

    Attributes:
        homography: (3, 3) float64, maps a full-resolution thermal pixel (x, y, 1) to the
            full-resolution RGB pixel.
        model: "translation", "affine" or "homography".
        score: final similarity (weighted mean of cos 2Δθ over the overlap, in [-1, 1]).
        baseline_score: similarity at the initial map (identity / nominal scaling or
            ``initial``), same working level.
        trusted: whether the estimate passed the trust check.
        reason: human-readable explanation (why it is trusted or rejected).
        shifted_score: best similarity over the far-shifted alignments (trust test).
        extra: diagnostic numbers (per-level scores, iterations, timing).
    """

    homography: np.ndarray
    model: str
    score: float
    baseline_score: float
    trusted: bool
    reason: str
    shifted_score: float = float("nan")
    extra: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------------
# image preparation and the orientation field
# --------------------------------------------------------------------------------------


def _grey(image: np.ndarray, name: str) -> np.ndarray:
    """HxW float32 grey of an HxW or HxWx3 (RGB order) image, raw intensity scale."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(image).__name__}")
    if image.ndim == 3 and image.shape[2] == 3:
        img = image.astype(np.float32)
        img = 0.299 * img[..., 0] + 0.587 * img[..., 1] + 0.114 * img[..., 2]
    elif image.ndim == 3 and image.shape[2] == 1:
        img = image[..., 0].astype(np.float32)
    elif image.ndim == 2:
        img = image.astype(np.float32)
    else:
        raise ValueError(f"{name} must be HxW or HxWx3, got shape {image.shape}")
    if img.shape[0] < 32 or img.shape[1] < 32:
        raise ValueError(f"{name} is too small for alignment: {img.shape[1]}x{img.shape[0]}")
    if not np.all(np.isfinite(img)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return img


def nodata_mask(image: np.ndarray, value: float | None) -> np.ndarray:
    """Pixels that carry no data: equal to ``value`` (every channel) and connected to the
    image border, like the black border an undistortion or a warp leaves.

    Args:
        image: HxW or HxWx3 array.
        value: the no-data value (0 for the usual black border); None: no pixel is no-data.

    Returns:
        HxW bool, True where there is no data.
    """
    if value is None:
        return np.zeros(image.shape[:2], bool)
    equal = image == value
    if equal.ndim == 3:
        equal = equal.all(axis=2)
    if not equal.any():
        return equal
    count, labels = cv2.connectedComponents(equal.astype(np.uint8), connectivity=4)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    edge = edge[edge > 0]
    return np.isin(labels, edge) if len(edge) else np.zeros_like(equal)


#: Largest share of an image that :func:`nodata_mask` may take out; beyond it the region is
#: taken for scene content (a crushed-black night sky) and every pixel counts.
MAX_NODATA_SHARE = 0.5


def _to_grey_float(image: np.ndarray, name: str, nodata_value: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Grey float32 in [0, 1] (robust 1-99 % range of the valid pixels) and the valid mask.

    No-data pixels (:func:`nodata_mask`, at most ``MAX_NODATA_SHARE`` of the image) are
    filled with the nearest valid pixel, so that the border of the no-data region is no
    edge (as ``BORDER_REPLICATE`` at the image border), and reported in the mask so that
    they never count in the similarity.

    Args:
        image: HxW (uint8/uint16/float) or HxWx3 (RGB order) array.
        name: used in error messages.
        nodata_value: see :func:`nodata_mask`.

    Returns:
        (HxW float32 grey, HxW bool valid mask).
    """
    img = _grey(image, name)
    nodata = nodata_mask(image, nodata_value)
    if nodata.mean() > MAX_NODATA_SHARE:
        # Not the border of a warp or an undistortion: most of the image equals the value
        # (a night frame with crushed blacks). Every pixel counts, as with nodata_value=None.
        nodata = np.zeros_like(nodata)
    valid = ~nodata
    if nodata.any():
        _, labels = cv2.distanceTransformWithLabels(nodata.astype(np.uint8), cv2.DIST_L2, 3,
                                                    labelType=cv2.DIST_LABEL_PIXEL)
        # labels index the zero (valid) pixels in raster order: map each to its value
        flat_valid = img[valid]
        img = flat_valid[labels - 1].astype(np.float32)
    lo, hi = np.percentile(img[valid], [1.0, 99.0])
    if hi - lo <= 1e-6:
        hi = lo + 1.0
    return np.clip((img - lo) / (hi - lo), 0.0, 1.0).astype(np.float32), valid


def orientation_field(grey: np.ndarray, blur_sigma: float = 1.0, smooth_sigma: float = 1.0) -> np.ndarray:
    """Polarity-free gradient-orientation field of a grey image.

    Args:
        grey: HxW float32 image (any intensity scale).
        blur_sigma: Gaussian pre-blur, pixels.
        smooth_sigma: Gaussian smoothing of the double-angle field, pixels.

    Returns:
        HxWx2 float32: ``w·cos 2θ`` and ``w·sin 2θ`` with ``w = m²/(m²+k²)`` in [0, 1).
    """
    img = cv2.GaussianBlur(grey, (0, 0), blur_sigma) if blur_sigma > 0 else grey
    gx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3)
    m2 = gx * gx + gy * gy
    m = np.sqrt(m2)
    k = float(np.percentile(m, 90.0)) + 1e-6
    r2 = m2 / (k * k)
    w = r2 / (1.0 + r2)
    inv = w / (m2 + 1e-12)
    field_ = np.empty(grey.shape + (2,), np.float32)
    field_[..., 0] = (gx * gx - gy * gy) * inv
    field_[..., 1] = (2.0 * gx * gy) * inv
    if smooth_sigma > 0:
        field_ = cv2.GaussianBlur(field_, (0, 0), smooth_sigma)
    return field_


def _correlation(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """Zero-mean normalised correlation of two HxWx2 fields over a boolean HxW mask."""
    if mask.sum() < 100:
        return 0.0
    va = a[mask]
    vb = b[mask]
    va = va - va.mean(axis=0)
    vb = vb - vb.mean(axis=0)
    den = float(np.sqrt((va * va).sum() * (vb * vb).sum()))
    return float((va * vb).sum() / den) if den > 0 else 0.0


# --------------------------------------------------------------------------------------
# geometry helpers
# --------------------------------------------------------------------------------------


def _scale(f: float | tuple[float, float]) -> np.ndarray:
    """3x3 scaling matrix (pixel-centre convention of cv2.resize: x' = f (x + 0.5) - 0.5)."""
    fx, fy = (f, f) if np.isscalar(f) else f
    return np.array([[fx, 0.0, 0.5 * fx - 0.5], [0.0, fy, 0.5 * fy - 0.5], [0.0, 0.0, 1.0]])


def map_points(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Apply a 3x3 map to Nx2 points; returns Nx2 float64."""
    p = np.hstack([np.asarray(pts, np.float64), np.ones((len(pts), 1))]) @ np.asarray(h, np.float64).T
    return p[:, :2] / p[:, 2:3]


def image_corners(size: tuple[int, int]) -> np.ndarray:
    """The 4 corners (x, y) of a (width, height) image, 4x2 float64 (pixel centres)."""
    w, h = size
    return np.array([[0.0, 0.0], [w - 1.0, 0.0], [w - 1.0, h - 1.0], [0.0, h - 1.0]])


def mean_corner_error(h_a: np.ndarray, h_b: np.ndarray, size: tuple[int, int]) -> float:
    """Mean distance, pixels, between the 4 corners of a (w, h) image mapped by two maps."""
    c = image_corners(size)
    return float(np.linalg.norm(map_points(h_a, c) - map_points(h_b, c), axis=1).mean())


def _increment_jacobian(shape: tuple[int, int], model: str) -> tuple[np.ndarray, np.ndarray, float, float, float]:
    """Jacobian of the incremental warp D(x) at p=0, in normalised coordinates.

    Returns (jx, jy, cx, cy, s) where jx, jy are HxWxP (d x'/dp, d y'/dp), and the
    normalised coordinates are ((x - cx)/s, (y - cy)/s).
    """
    hh, ww = shape
    cx, cy, s = (ww - 1) / 2.0, (hh - 1) / 2.0, max(ww, hh) / 2.0
    ys, xs = np.mgrid[0:hh, 0:ww].astype(np.float32)
    x = (xs - cx) / s
    y = (ys - cy) / s
    z = np.zeros_like(x)
    o = np.ones_like(x)
    if model == "translation":
        jx = np.stack([o, z], -1)
        jy = np.stack([z, o], -1)
    elif model == "affine":
        jx = np.stack([x, y, o, z, z, z], -1)
        jy = np.stack([z, z, z, x, y, o], -1)
    else:
        jx = np.stack([x, y, o, z, z, z, -x * x, -x * y], -1)
        jy = np.stack([z, z, z, x, y, o, -x * y, -y * y], -1)
    return jx, jy, cx, cy, s


def _params_to_matrix(p: np.ndarray, model: str, cx: float, cy: float, s: float) -> np.ndarray:
    """Incremental warp matrix D (pixel coordinates) from normalised parameters."""
    d = np.eye(3)
    if model == "translation":
        d[0, 2], d[1, 2] = p
    else:
        d[0, :] += p[0:3]
        d[1, :] += p[3:6]
        if model == "homography":
            d[2, 0:2] = p[6:8]
    n = np.array([[1 / s, 0, -cx / s], [0, 1 / s, -cy / s], [0, 0, 1.0]])
    return np.linalg.inv(n) @ d @ n


# --------------------------------------------------------------------------------------
# one pyramid level
# --------------------------------------------------------------------------------------


class _Level:
    """Both images at one pyramid level, with the RGB field precomputed.

    ``h_level = S_rgb @ h_full @ inv(S_th)`` converts full-resolution maps to this level.
    ``rgb_valid`` / ``th_valid`` are the full-resolution valid masks of
    :func:`_to_grey_float` (None: every pixel valid); a level pixel is valid only when every
    full-resolution pixel under it is.
    """

    def __init__(self, rgb_grey: np.ndarray, th_grey: np.ndarray, f_rgb: float, f_th: tuple[float, float],
                 rgb_valid: np.ndarray | None = None, th_valid: np.ndarray | None = None):
        self.s_rgb = _scale(f_rgb)
        self.s_th = _scale(f_th)
        size_r = (max(8, int(round(rgb_grey.shape[1] * f_rgb))), max(8, int(round(rgb_grey.shape[0] * f_rgb))))
        size_t = (max(8, int(round(th_grey.shape[1] * f_th[0]))), max(8, int(round(th_grey.shape[0] * f_th[1]))))
        self.rgb = cv2.resize(rgb_grey, size_r, interpolation=cv2.INTER_AREA)
        self.th = cv2.resize(th_grey, size_t, interpolation=cv2.INTER_AREA)
        self.size = size_r
        self.full_rgb_size = (rgb_grey.shape[1], rgb_grey.shape[0])
        self.full_th_size = (th_grey.shape[1], th_grey.shape[0])
        self.field_rgb = orientation_field(self.rgb)
        self.border = 4
        kernel = np.ones((2 * self.border + 1,) * 2, np.uint8)
        self._ones = self._level_mask(th_valid, size_t)
        self.rgb_valid = cv2.erode(self._level_mask(rgb_valid, size_r), kernel,
                                   borderType=cv2.BORDER_CONSTANT, borderValue=1).astype(bool)

    @staticmethod
    def _level_mask(valid: np.ndarray | None, size: tuple[int, int]) -> np.ndarray:
        """uint8 mask (1 valid) at a level size from a full-resolution bool mask."""
        if valid is None or valid.all():
            return np.ones((size[1], size[0]), np.uint8)
        area = cv2.resize(valid.astype(np.float32), size, interpolation=cv2.INTER_AREA)
        return (area > 0.999).astype(np.uint8)

    def to_level(self, h_full: np.ndarray) -> np.ndarray:
        return self.s_rgb @ h_full @ np.linalg.inv(self.s_th)

    def to_full(self, h_level: np.ndarray) -> np.ndarray:
        return np.linalg.inv(self.s_rgb) @ h_level @ self.s_th

    def warped_field(self, h_level: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Thermal warped into the RGB level geometry: (HxWx2 field, HxW bool valid mask)."""
        warped = cv2.warpPerspective(self.th, h_level, self.size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        mask = cv2.warpPerspective(self._ones, h_level, self.size, flags=cv2.INTER_NEAREST, borderValue=0)
        mask = cv2.erode(mask, np.ones((2 * self.border + 1,) * 2, np.uint8))
        return orientation_field(warped), mask.astype(bool) & self.rgb_valid

    def score(self, h_level: np.ndarray) -> float:
        f, m = self.warped_field(h_level)
        return _correlation(self.field_rgb, f, m)


def _ecc_pair_system(level: _Level, h_level: np.ndarray, jx: np.ndarray, jy: np.ndarray, s: float,
                     step: int) -> tuple[np.ndarray, np.ndarray, float] | None:
    """Gauss-Newton normal equations of the multi-channel ECC objective for one pair.

    ECC (Evangelidis & Psarakis, "Parametric image alignment using enhanced correlation
    coefficient maximization", PAMI 2008, Sec. 3) maximises the correlation
    ``ρ = ir·iw / (|ir| |iw|)`` of the zero-mean reference ``ir`` and warped ``iw``. With
    ``iw(Δp) ≈ iw + G Δp`` (``G`` the zero-mean steepest-descent images) the maximiser of
    the linearised ρ is ``Δp = H⁻¹ Gᵀ (λ ir − iw)``, ``H = GᵀG``, with the closed-form
    ``λ = (|iw|² − iwᵀ G H⁻¹ Gᵀ iw) / (irᵀ iw − irᵀ G H⁻¹ Gᵀ iw)`` of the paper. Here the
    "images" are the two channels of the orientation field, stacked (zero mean per channel),
    and the normal equations are returned divided by ``|iw|²`` so that several pairs can be
    summed with equal weight (for one pair the factor cancels).

    Args:
        level: the pyramid level of the pair.
        h_level: (3, 3) current map at this level.
        jx, jy: (H/step)x(W/step)xP increment Jacobian, subsampled like the images.
        s: the normalisation of the Jacobian's coordinates (pixels per unit).
        step: pixel subsampling of the linear system.

    Returns:
        (P x P Hessian, P gradient ``Gᵀ(λ ir − iw)``, correlation ρ at ``h_level`` over
        the subsampled overlap), or None when the overlap is too small.
    """
    ft_full, mask_full = level.warped_field(h_level)
    sub = (slice(None, None, step), slice(None, None, step))
    mask = mask_full[sub]
    if mask.sum() < 200:
        return None
    gx = cv2.Sobel(ft_full, cv2.CV_32F, 1, 0, ksize=3, scale=1 / 8.0)[sub][mask] * s
    gy = cv2.Sobel(ft_full, cv2.CV_32F, 0, 1, ksize=3, scale=1 / 8.0)[sub][mask] * s
    jxm, jym = jx[mask], jy[mask]
    # per channel c: G_c (N x P); iw_c, ir_c zero-mean over the overlap. The zero-mean G_c
    # is never formed: G_cᵀ v equals its product for a zero-mean v, and the Hessian of the
    # zero-mean G_c is G_cᵀG_c − N μ_c μ_cᵀ (μ_c the column means of G_c). The long
    # reductions use einsum, not BLAS: multi-threaded OpenBLAS dot products woken at every
    # iteration made a whole estimate 2.5x slower on a busy 2-core machine (measured).
    n = len(jxm)
    ft_sub, fr_sub = ft_full[sub][mask], level.field_rgb[sub][mask]
    hess = np.zeros((jx.shape[-1],) * 2)
    gw = np.zeros(jx.shape[-1])
    gr = np.zeros(jx.shape[-1])
    energy = cross = energy_r = 0.0
    for c in range(2):
        g_c = (gx[:, c:c + 1] * jxm + gy[:, c:c + 1] * jym).astype(np.float64)
        mu = g_c.sum(0) / n
        hess += np.einsum("np,nq->pq", g_c, g_c) - n * np.outer(mu, mu)
        iw_c = ft_sub[:, c].astype(np.float64)
        ir_c = fr_sub[:, c].astype(np.float64)
        iw_c -= iw_c.mean()
        ir_c -= ir_c.mean()
        gw += np.einsum("n,np->p", iw_c, g_c)
        gr += np.einsum("n,np->p", ir_c, g_c)
        energy += float(np.einsum("n,n->", iw_c, iw_c))
        energy_r += float(np.einsum("n,n->", ir_c, ir_c))
        cross += float(np.einsum("n,n->", ir_c, iw_c))
    hess += np.eye(len(hess)) * 1e-9 * np.trace(hess)
    hinv = np.linalg.inv(hess)
    num = energy - gw @ hinv @ gw
    den = cross - gr @ hinv @ gw
    lam = num / den if den > 1e-12 else np.sqrt(energy / max(energy_r, 1e-12))
    weight = 1.0 / max(energy, 1e-12)
    rho = cross / np.sqrt(max(energy_r * energy, 1e-24))
    return hess * weight, (lam * gr - gw) * weight, rho


def _ecc_refine(levels: Sequence[_Level], h_level: np.ndarray, model: str, iters: int,
                eps: float) -> tuple[np.ndarray, float, int]:
    """Maximise the field correlation with multi-channel ECC Gauss-Newton steps.

    With several pairs (all of one geometry, so one ``h_level`` serves every level), the
    per-pair normal equations of :func:`_ecc_pair_system` are summed and one shared
    increment solves ``(Σ_k H_k) Δp = Σ_k g_k``: the joint maximiser of the linearised
    correlations, each pair's thermal image re-warped by the shared map at every iteration.

    Args:
        levels: one pyramid level per pair, all of the same sizes.
        h_level: (3, 3) initial map at this level.
        model: warp model of the increments.
        iters: maximum number of iterations.
        eps: stop when the largest corner displacement of an increment is below eps px.

    Returns:
        (refined map, mean correlation over the pairs at it, iterations run); the map is
        the best visited one.
    """
    first = levels[0]
    jx, jy, cx, cy, s = _increment_jacobian(first.rgb.shape, model)
    step = 2 if first.rgb.size > 200_000 else 1  # subsample the largest level for speed
    jx, jy = jx[::step, ::step], jy[::step, ::step]
    corners_th = image_corners((first.th.shape[1], first.th.shape[0]))
    best_h, best_rho = h_level.copy(), -np.inf
    h = h_level.copy()
    it, converged = 0, False
    while True:
        # the (subsampled) correlation of every visited map, the last one included, picks
        # the map returned; the full-resolution similarity is evaluated once, at the end
        systems = [_ecc_pair_system(lvl, h, jx, jy, s, step) for lvl in levels]
        rho = float(np.mean([0.0 if sy is None else sy[2] for sy in systems]))
        if rho >= best_rho:
            best_h, best_rho = h.copy(), rho
        if converged or it == iters or any(sy is None for sy in systems):
            break
        dp = np.linalg.solve(sum(sy[0] for sy in systems), sum(sy[1] for sy in systems))
        h_new = np.linalg.inv(_params_to_matrix(dp, model, cx, cy, s)) @ h
        h_new /= h_new[2, 2]
        converged = np.abs(map_points(h_new, corners_th) - map_points(h, corners_th)).max() < eps
        h = h_new
        it += 1
    return best_h, float(np.mean([lvl.score(best_h) for lvl in levels])), it


def _coarse_translation(level: _Level, h_level: np.ndarray, max_shift_frac: float) -> np.ndarray:
    """Global translation search by FFT cross-correlation of the complex fields.

    Returns the map ``T(d) @ h_level`` with the best shift ``d`` within ``max_shift_frac``
    of the image size (normalised by the overlap energies).
    """
    ft, mt = level.warped_field(h_level)
    mr = level.rgb_valid
    zr = (level.field_rgb[..., 0] + 1j * level.field_rgb[..., 1]) * mr
    zt = (ft[..., 0] + 1j * ft[..., 1]) * mt
    zr = zr - zr[mr].mean() * mr
    zt = zt - zt[mt].mean() * mt
    hh, ww = zr.shape
    shape = (2 * hh, 2 * ww)
    fr = np.fft.fft2(zr, shape)
    ftt = np.fft.fft2(zt, shape)
    # c(d) = sum_x zr(x) conj(zt(x - d))   (thermal moved by +d)
    num = np.real(np.fft.ifft2(fr * np.conj(ftt)))
    er = np.real(np.fft.ifft2(np.fft.fft2(np.abs(zr) ** 2, shape) * np.conj(np.fft.fft2(mt.astype(float), shape))))
    et = np.real(np.fft.ifft2(np.fft.fft2(mr.astype(float), shape) * np.conj(np.fft.fft2(np.abs(zt) ** 2, shape))))
    ov = np.real(np.fft.ifft2(np.fft.fft2(mr.astype(float), shape) * np.conj(np.fft.fft2(mt.astype(float), shape))))
    corr = num / np.sqrt(np.maximum(er * et, 1e-12))
    dy = np.fft.fftfreq(shape[0], 1.0 / shape[0])
    dx = np.fft.fftfreq(shape[1], 1.0 / shape[1])
    ok = (np.abs(dy)[:, None] <= max_shift_frac * hh) & (np.abs(dx)[None, :] <= max_shift_frac * ww)
    ok &= ov >= 0.5 * mt.sum()
    corr = np.where(ok, corr, -np.inf)
    iy, ix = np.unravel_index(int(np.argmax(corr)), corr.shape)
    t = np.array([[1.0, 0, dx[ix]], [0, 1.0, dy[iy]], [0, 0, 1.0]])
    return t @ h_level


def _shifted_scores(level: _Level, h_level: np.ndarray) -> list[float]:
    """Similarity of the warped thermal field shifted far (1/8, 1/4 of the size, 8 directions)."""
    ft, mt = level.warped_field(h_level)
    hh, ww = mt.shape
    out = []
    for frac in (0.125, 0.25):
        for ang in range(8):
            dx = int(round(np.cos(ang * np.pi / 4) * frac * ww))
            dy = int(round(np.sin(ang * np.pi / 4) * frac * hh))
            m = np.float32([[1, 0, dx], [0, 1, dy]])
            fs = cv2.warpAffine(ft, m, (ww, hh), flags=cv2.INTER_NEAREST)
            ms = cv2.warpAffine(mt.astype(np.uint8), m, (ww, hh), flags=cv2.INTER_NEAREST).astype(bool)
            out.append(_correlation(level.field_rgb, fs, ms))
    return out


def _degeneracy(h_full: np.ndarray, h_nominal: np.ndarray, thermal_size: tuple[int, int], rgb_size: tuple[int, int]) -> str:
    """Empty string when the map is plausible, otherwise why it is degenerate."""
    rel = h_full @ np.linalg.inv(h_nominal)  # RGB -> RGB, identity for the nominal map
    rel = rel / rel[2, 2]
    if not np.all(np.isfinite(rel)):
        return "map is not finite"
    sv = np.linalg.svd(rel[:2, :2], compute_uv=False)
    if sv.min() < 0.67 or sv.max() > 1.5:
        return f"implausible scale/shear (singular values {sv[0]:.2f}, {sv[1]:.2f} relative to nominal)"
    c = map_points(h_full, image_corners(thermal_size))
    def cross2(a: np.ndarray, b: np.ndarray) -> float:
        return float(a[0] * b[1] - a[1] * b[0])

    cross = [cross2(c[(i + 1) % 4] - c[i], c[(i + 2) % 4] - c[(i + 1) % 4]) for i in range(4)]
    if not (all(x > 0 for x in cross) or all(x < 0 for x in cross)):
        return "mapped thermal image is not a convex quadrilateral"
    aff = map_points(np.vstack([rel[:2], [0, 0, 1]]) @ h_nominal, image_corners(thermal_size))
    persp = np.linalg.norm(c - aff, axis=1).max() / max(rgb_size)
    if persp > 0.1:
        return f"implausible perspective distortion ({100 * persp:.1f}% of the image size)"
    # overlap of the mapped thermal image with the RGB image
    rw, rh = rgb_size
    inter, _ = cv2.intersectConvexConvex(c.astype(np.float32), image_corners(rgb_size).astype(np.float32))
    if inter < 0.5 * (rw - 1) * (rh - 1):
        return "mapped thermal image covers less than half of the RGB image"
    return ""


def _pyramid(rgb_g: np.ndarray, th_g: np.ndarray, max_width: int, levels: int,
             rgb_valid: np.ndarray | None = None, th_valid: np.ndarray | None = None) -> list[_Level]:
    """Pyramid levels of one pair, coarsest first; the finest is at most ``max_width`` wide.

    Args:
        rgb_g, th_g: grey float32 images of :func:`_to_grey_float` (any two sizes).
        rgb_valid, th_valid: their valid masks (None: all valid).
        max_width: width, pixels, of the finest level.
        levels: number of levels (each half the previous resolution; levels narrower than
            48 px are left out).
    """
    rgb_w, rgb_h = rgb_g.shape[1], rgb_g.shape[0]
    f_fine = min(1.0, max_width / rgb_w)
    sx, sy = rgb_w / th_g.shape[1], rgb_h / th_g.shape[0]
    pyramid = []
    for lv in range(levels):
        f = f_fine / (2 ** (levels - 1 - lv))
        if rgb_w * f < 48 and lv < levels - 1:
            continue
        pyramid.append(_Level(rgb_g, th_g, f, (min(1.0, f * sx), min(1.0, f * sy)), rgb_valid, th_valid))
    return pyramid


def _trust_check(level: _Level, h_full: np.ndarray, h_nominal: np.ndarray, min_score: float,
                 min_margin: float, min_ratio: float) -> tuple[float, list[float], list[str]]:
    """The trust tests of the module docstring for one pair at one full-resolution map.

    Returns:
        (similarity at the map, the far-shifted similarities, reasons for distrust — empty
        when the map is trusted).
    """
    hl = level.to_level(h_full)
    score = level.score(hl)
    shifted = _shifted_scores(level, hl)
    best_shift = float(max(shifted))
    reasons = []
    if score < min_score:
        reasons.append(f"similarity {score:.3f} below {min_score}")
    if score - best_shift < min_margin or score < min_ratio * max(best_shift, 1e-6):
        reasons.append(f"no distinct peak: similarity {score:.3f} vs {best_shift:.3f} at far-shifted alignments "
                       f"(need margin {min_margin} and ratio {min_ratio})")
    rgb_size = level.full_rgb_size
    th_size = level.full_th_size
    degenerate = _degeneracy(h_full, h_nominal, th_size, rgb_size)
    if degenerate:
        reasons.append(degenerate)
    return score, shifted, reasons


# --------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------


def estimate_alignment(
    rgb: np.ndarray,
    thermal: np.ndarray,
    model: str = "homography",
    initial: np.ndarray | None = None,
    *,
    max_width: int = 640,
    levels: int = 3,
    max_shift_frac: float = 0.15,
    min_score: float = 0.08,
    min_margin: float = 0.05,
    min_ratio: float = 1.5,
    perspective_gain: float = 0.0,
    nodata_value: float | None = 0,
) -> AutoResult:
    """Estimate the thermal->RGB map of one pair by maximising the orientation similarity.

    Args:
        rgb: HxWx3 uint8 in RGB order (or HxW grey).
        thermal: hxw uint8/uint16/float32 (any size); the result maps its pixels to RGB pixels.
        model: "homography", "affine" or "translation".
        initial: optional (3, 3) thermal->RGB initial map, full-resolution pixels; default:
            the scaling that stretches the thermal image onto the RGB image.
        max_width: width, pixels, of the finest working level (inputs are downscaled).
        levels: number of pyramid levels (each half the previous resolution).
        max_shift_frac: range of the global translation search, fraction of the image size.
        min_score: minimum final similarity for trust.
        min_margin: minimum absolute margin of the score over the best far-shifted score.
        min_ratio: minimum ratio of the score to the best far-shifted score.
        perspective_gain: model selection for ``model="homography"``: the two perspective
            terms are kept only when they raise the similarity over the affine fit by at
            least this much; 0 (default) keeps them unless they lower the similarity. A positive gain holds the
            corners of a single-pair estimate closer to the affine fit, but makes the
            estimate jump between models when the thermal image is warped (a perspective
            warp of 7.8 px at the corners: 6.1 px error with 0.01, 0.6 px with 0).
        nodata_value: pixels of either image equal to it (all channels) and connected to
            the image border carry no data (the black border of an undistorted or warped
            image) and never count, unless they are more than half the image; None: every
            pixel counts. A shift of 12/-8 px with a black border: 3.7 px error at the
            corners when the border counts, 0.4 px when not. Give None when pure black
            regions at the border are scene content (a night sky clipped to 0): their edge
            with the scene would be lost.

    Returns:
        AutoResult with the full-resolution map; ``trusted`` tells whether to use it.

    Raises:
        ValueError: bad inputs (shape, NaN, unknown model, singular initial map).
    """
    import time

    t0 = time.perf_counter()
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; expected one of {MODELS}")
    rgb_g, rgb_valid = _to_grey_float(rgb, "rgb", nodata_value)
    th_g, th_valid = _to_grey_float(thermal, "thermal", nodata_value)
    rgb_size = (rgb_g.shape[1], rgb_g.shape[0])
    th_size = (th_g.shape[1], th_g.shape[0])
    h_nominal = _scale((rgb_size[0] / th_size[0], rgb_size[1] / th_size[1]))
    if initial is None:
        h0 = h_nominal.copy()
    else:
        h0 = np.asarray(initial, np.float64)
        if h0.shape != (3, 3) or not np.all(np.isfinite(h0)) or abs(np.linalg.det(h0)) < 1e-12:
            raise ValueError("initial must be a finite, invertible 3x3 matrix")
        h0 = h0 / h0[2, 2]
    pyramid = _pyramid(rgb_g, th_g, max_width, levels, rgb_valid, th_valid)
    finest = pyramid[-1]
    baseline = finest.score(finest.to_level(h0))

    h = h0
    stages = [m for m in MODELS if _N_PARAMS[m] <= _N_PARAMS[model]]
    per_level = []
    for i, lvl in enumerate(pyramid):
        hl = lvl.to_level(h)
        if i == 0 and initial is None:
            hl = _coarse_translation(lvl, hl, max_shift_frac)
        last = i == len(pyramid) - 1
        accepted = None
        for stage in stages:
            if stage == "translation" and i > 0 and model != "translation":
                continue
            if stage == "homography" and not last:
                continue  # perspective terms drift on coarse levels: finest level only
            start = hl
            hl, rho, its = _ecc_refine([lvl], hl, stage, iters=40 if not last else 25, eps=0.01)
            per_level.append((lvl.size[0], stage, round(rho, 4), its))
            if stage == "homography" and accepted is not None and rho - accepted < perspective_gain:
                # Model selection: the two perspective parameters are weakly constrained by
                # one scene pair; keep them only when they explain clearly more structure.
                hl = start
                per_level.append((lvl.size[0], "homography rejected", round(rho - accepted, 4), 0))
            accepted = rho if stage != "homography" else accepted
        h = lvl.to_full(hl)
    h = h / h[2, 2]
    score, shifted, reasons = _trust_check(finest, h, h_nominal, min_score, min_margin, min_ratio)
    best_shift = float(max(shifted))
    trusted = not reasons
    reason = ("similarity %.3f, %.1fx the best far-shifted alignment (%.3f)" % (score, score / max(best_shift, 1e-6), best_shift)
              if trusted else "; ".join(reasons))
    return AutoResult(
        homography=h, model=model, score=float(score), baseline_score=float(baseline), trusted=trusted,
        reason=reason, shifted_score=best_shift,
        extra={"levels": per_level, "seconds": time.perf_counter() - t0, "shifted_scores": shifted},
    )


def _joint_refinement(pairs: Sequence[tuple[np.ndarray, np.ndarray]], h_start: np.ndarray, *,
                      max_width: int, min_score: float, min_margin: float, min_ratio: float,
                      iterations: int, nodata_value: float | None = 0) -> tuple[np.ndarray, list[str], dict]:
    """Refine one homography jointly over several pairs of one rig (finest level).

    Args:
        pairs: the (rgb, thermal) pairs whose single-pair estimates were trusted.
        h_start: (3, 3) full-resolution start map (the median-corner fit).
        max_width: width, pixels, of the working level (as :func:`estimate_alignment`).
        min_score, min_margin, min_ratio: the trust thresholds, applied to every pair at
            the joint map.
        nodata_value: as :func:`estimate_alignment`.
        iterations: maximum number of joint Gauss-Newton iterations.

    Returns:
        (full-resolution joint map, reasons for distrust — empty when every pair trusts it,
        diagnostics: mean similarity at the start and at the joint map, iterations,
        per-pair similarities).
    """
    levels = []
    for rgb, th in pairs:
        rgb_g, rgb_valid = _to_grey_float(rgb, "rgb", nodata_value)
        th_g, th_valid = _to_grey_float(th, "thermal", nodata_value)
        levels.append(_pyramid(rgb_g, th_g, max_width, 1, rgb_valid, th_valid)[-1])
    first = levels[0]
    start_level = first.to_level(h_start)
    start_score = float(np.mean([lvl.score(start_level) for lvl in levels]))
    hl, _, its = _ecc_refine(levels, start_level, "homography", iters=iterations, eps=0.01)
    h = first.to_full(hl)
    h = h / h[2, 2]
    th_size = first.full_th_size
    rgb_size = first.full_rgb_size
    h_nominal = _scale((rgb_size[0] / th_size[0], rgb_size[1] / th_size[1]))
    reasons, scores = [], []
    for k, lvl in enumerate(levels):
        score, _, pair_reasons = _trust_check(lvl, h, h_nominal, min_score, min_margin, min_ratio)
        scores.append(round(score, 4))
        reasons.extend(f"pair {k}: {r}" for r in pair_reasons)
    info = {"start_score": round(start_score, 4), "score": round(float(np.mean(scores)), 4),
            "iterations": its, "scores": scores}
    return h, reasons, info


SPREAD_GRID = 5  # points per side of the grid over the thermal image that the spread is measured on


def _spread(results: Sequence[AutoResult], h_median: np.ndarray, thermal_size: tuple[int, int]) -> float:
    """RMS distance, RGB pixels, between the per-pair maps and the median map.

    Measured over a SPREAD_GRID x SPREAD_GRID grid of points spanning the thermal image
    (its corners included): single-pair homographies are least certain at the corners,
    where they extrapolate the structure of the middle of the image, and a corner-only
    spread would weigh that uncertainty 4 times too much (12 LLVIP pairs: 7.9-11 px from
    identity at the corners, 3.3-5.1 px over the image). 0 for a single pair.
    """
    if len(results) < 2:
        return 0.0
    w, h = thermal_size
    xs, ys = np.meshgrid(np.linspace(0.0, w - 1.0, SPREAD_GRID), np.linspace(0.0, h - 1.0, SPREAD_GRID))
    grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
    reference = map_points(h_median, grid)
    mapped = np.stack([map_points(r.homography, grid) for r in results])  # K x G x 2
    return float(np.sqrt(np.mean(np.sum((mapped - reference) ** 2, axis=2))))


def calibrate_auto(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]],
    model: str = "homography",
    *,
    max_spread_px: float = 8.0,
    joint_refinement: bool = True,
    joint_iterations: int = 30,
    **kwargs,
) -> Calibration:
    """Target-free calibration from ordinary scene pairs of one rig.

    Each pair is estimated independently (:func:`estimate_alignment`); untrusted estimates
    are dropped; the median of the mapped thermal-image corners over the remaining pairs
    defines a first map (exact fit through the 4 median corners, or an affine / translation
    least-squares fit), and the spread of the per-pair maps about it over a grid of the
    image (:func:`_spread`) is the consistency test. For ``model="homography"`` with ``joint_refinement``, that map then starts a
    joint ECC refinement of ONE homography over all trusted pairs at the finest working
    level (the per-pair normal equations summed, see :func:`_ecc_refine`): one scene
    constrains the two perspective terms weakly, several scenes of the same rig constrain
    them much better (pairs of different scenes: frames of one scene share one depth
    structure and help little). The joint map is kept only when every trusted pair passes
    the trust tests at it (similarity, distinct peak, non-degenerate map); otherwise the
    median map is returned. ``extra["joint_refinement"]`` reports the mean similarity at
    the start and at the joint map, the per-pair similarities, the iterations, how far the
    map moved (``moved_px``, mean over the corners) and, when refused, why
    (``rejected``). It needs two trusted pairs at least: a single pair keeps its own
    estimate, made with the single-pair model selection (``skipped``).

    Args:
        pairs: sequence of (rgb HxWx3 uint8 RGB, thermal hxw) pairs, all of the same sizes.
        model: "homography", "affine" or "translation".
        max_spread_px: refuse when the per-pair maps spread more than this about the median
            map (RMS over a grid of the image, px).
        joint_refinement: refine the homography jointly over the trusted pairs (default
            on; ignored for the affine and translation models).
        joint_iterations: maximum number of joint Gauss-Newton iterations.
        **kwargs: passed to :func:`estimate_alignment` (``max_width`` and the trust
            thresholds also apply to the joint refinement).

    Returns:
        Calibration with ``method="auto"``; ``error_px`` is the spread of the per-pair maps
        about the median map (:func:`_spread`, full-resolution RGB pixels).

    Raises:
        CalibrationError: no pairs, inconsistent sizes, no trusted pair, or estimates too
            inconsistent to trust.
    """
    if model not in MODELS:
        raise CalibrationError(f"unknown model {model!r}; expected one of {MODELS}")
    if len(pairs) == 0:
        raise CalibrationError("auto calibration needs at least one RGB-thermal image pair")
    if joint_iterations < 1:
        raise CalibrationError(f"joint_iterations must be at least 1, got {joint_iterations}")
    sizes = {((p[0].shape[1], p[0].shape[0]), (p[1].shape[1], p[1].shape[0])) for p in pairs}
    if len(sizes) != 1:
        raise CalibrationError(f"all pairs must share one RGB size and one thermal size, got {sorted(sizes)}")
    (rgb_size, th_size), = sizes
    results = []
    trusted_pairs = []
    rejected = []
    for i, (rgb, th) in enumerate(pairs):
        try:
            r = estimate_alignment(rgb, th, model=model, **kwargs)
        except ValueError as exc:
            rejected.append(f"pair {i}: {exc}")
            continue
        if r.trusted:
            results.append(r)
            trusted_pairs.append((rgb, th))
        else:
            rejected.append(f"pair {i}: {r.reason}")
    if not results:
        raise CalibrationError("auto calibration could not trust any pair: " + " | ".join(rejected))
    corners_th = image_corners(th_size)
    mapped = np.stack([map_points(r.homography, corners_th) for r in results])  # K x 4 x 2
    med = np.median(mapped, axis=0)
    if model == "homography":
        h = cv2.getPerspectiveTransform(corners_th.astype(np.float32), med.astype(np.float32)).astype(np.float64)
    elif model == "affine":
        a, _ = cv2.estimateAffine2D(corners_th, med, method=cv2.LMEDS)
        if a is None:
            raise CalibrationError("could not fit an affine map to the median corners")
        h = np.vstack([a, [0, 0, 1.0]])
    else:
        h = _scale((rgb_size[0] / th_size[0], rgb_size[1] / th_size[1]))
        h[:2, 2] += (med - map_points(h, corners_th)).mean(0)
    spread = _spread(results, h, th_size)
    if spread > max_spread_px:
        raise CalibrationError(f"per-pair estimates disagree by {spread:.1f} px RMS (> {max_spread_px}); "
                               "the scene pairs do not give a consistent map")
    extra = {"pairs_used": len(results), "pairs_rejected": rejected,
             "scores": [round(r.score, 4) for r in results]}
    if model == "homography":
        if joint_refinement and len(results) < 2:
            extra["joint_refinement"] = {"skipped": "a single trusted pair keeps its own estimate"}
        elif joint_refinement:
            defaults = {name: p.default for name, p in inspect.signature(estimate_alignment).parameters.items()}
            settings = {name: kwargs.get(name, defaults[name])
                        for name in ("max_width", "min_score", "min_margin", "min_ratio", "nodata_value")}
            h_joint, reasons, info = _joint_refinement(trusted_pairs, h, iterations=joint_iterations, **settings)
            info["moved_px"] = round(mean_corner_error(h_joint, h, th_size), 3)
            if reasons:
                info["rejected"] = "; ".join(reasons)
            else:
                h = h_joint
            extra["joint_refinement"] = info
    return Calibration(
        model=model if model != "translation" else "affine",
        homography=h / h[2, 2],
        rgb_size=rgb_size,
        thermal_size=th_size,
        error_px=spread,
        date=now_iso(),
        method="auto",
        extra=extra,
    )
