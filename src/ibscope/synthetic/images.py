"""Injective, smooth maps from Gaussian latents to images (synthetic images with known MI).

Mutual information is invariant under injective maps applied separately to each
variable (Butakov et al., ICLR 2024, Statement 1). An image rendered by an
injective map from a Gaussian latent therefore carries exactly the latent's MI
with any other variable. Every renderer here is a composition

    latent xi in R^d  --Phi (per coordinate)-->  u in (0, 1)^d  --geometry + raster-->  image

where ``Phi`` is the standard normal CDF (``scipy.special.ndtr``), which is
smooth and strictly increasing, and the rasteriser is injective on (0, 1)^d.

Three renderers are provided (see :data:`RENDERERS`):

``"bump"`` (latent dimension 2)
    An isotropic Gaussian bump ``exp(-10 ||g - mu||^2)`` centred at ``mu = u``,
    as in the paper (Butakov et al., ICLR 2024, Sec. 5).
``"rectangle"`` (latent dimension 4)
    An anti-aliased axis-aligned rectangle whose pixels hold their covered area.
``"elliptic_bump"`` (latent dimension 5)
    An anisotropic, tilted Gaussian bump: centre, two widths and a correlation
    (our completion of the paper's "5-parameter bump").

All renderers are vectorised over images (no per-image Python loop), accept any
resolution, and return ``float32`` arrays of shape ``(n, 1, H, W)`` with values
in ``[0, 1]``. Pixel (row ``i``, column ``j``) corresponds to the point
``(x_j, y_i)`` of the unit square; the first coordinate of every 2-D geometric
parameter is horizontal (columns), the second vertical (rows).

Notes
-----
Injectivity is a statement about exact arithmetic. Two nearby latents can round
to the same ``float32`` image, and ``ndtr`` saturates to exactly 0 or 1 for
``|xi| > ~8.3`` (probability ~1e-16 per coordinate). Neither affects samples of
realistic size.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from .._validation import check_float, check_int, describe, to_numpy

__all__ = [
    "RENDERERS",
    "RendererInfo",
    "latents_to_uniform",
    "list_renderers",
    "render",
    "render_bump",
    "render_elliptic_bump",
    "render_rectangle",
]

#: Default sharpness of the paper's bump: pixel = exp(-10 ||g - mu||^2).
BUMP_SHARPNESS = 10.0

# Number of float64 intermediate values a non-separable renderer may hold at once.
_CHUNK_ELEMENTS = 1 << 22


# ---------------------------------------------------------------------------
# argument checks
# ---------------------------------------------------------------------------
def _check_size(size, owner: str) -> tuple[int, int]:
    """Return ``(H, W)`` from an int (square) or a pair of ints."""
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        h = w = check_int(size, "size", owner, low=2)
        return h, w
    if isinstance(size, (tuple, list)) and len(size) == 2:
        h = check_int(size[0], "size", owner, low=2)
        w = check_int(size[1], "size", owner, low=2)
        return h, w
    raise TypeError(
        f"The 'size' parameter of {owner} must be an int >= 2 (square image) or a pair "
        f"(height, width) of ints >= 2. Got {size!r} of type {type(size).__name__}."
    )


def _check_params(u, dim: int, name: str, owner: str) -> np.ndarray:
    """Validate an array of geometric parameters in [0, 1] of shape (n, dim)."""
    arr = to_numpy(u, name)
    if arr.ndim == 1 and dim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise ValueError(
            f"The '{name}' argument of {owner} must have shape (n_images, {dim}). "
            f"Got {describe(arr)}."
        )
    if arr.shape[0] == 0:
        raise ValueError(f"The '{name}' argument of {owner} has 0 rows; pass at least one set of parameters.")
    if not (np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)):
        raise TypeError(f"The '{name}' argument of {owner} must be numeric. Got dtype {arr.dtype}.")
    arr = np.asarray(arr, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"The '{name}' argument of {owner} contains NaN or inf.")
    if arr.min() < 0.0 or arr.max() > 1.0:
        raise ValueError(
            f"The '{name}' argument of {owner} must hold values in [0, 1] (uniform parameters). "
            f"Got values in [{arr.min():.4g}, {arr.max():.4g}]. "
            "Map Gaussian latents with latents_to_uniform() or call render()."
        )
    return arr


def latents_to_uniform(latents) -> np.ndarray:
    """Map Gaussian latents to (0, 1) per coordinate with the standard normal CDF.

    Parameters
    ----------
    latents : array-like of shape (n, d)
        Real-valued latents (unit-variance Gaussian for uniform output).

    Returns
    -------
    ndarray of shape (n, d), float64
        ``Phi(latents)``; uniform on (0, 1) when the latents are standard normal.
    """
    arr = to_numpy(latents, "latents")
    if arr.ndim != 2:
        raise ValueError(
            f"The 'latents' argument must be a 2-D array of shape (n_images, latent_dim). Got {describe(arr)}."
        )
    arr = np.asarray(arr, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError("The 'latents' argument contains NaN or inf.")
    return ndtr(arr)


def _grid(n_points: int) -> np.ndarray:
    return np.linspace(0.0, 1.0, n_points)


# ---------------------------------------------------------------------------
# renderers on uniform parameters
# ---------------------------------------------------------------------------
def render_bump(u, size=16, *, sharpness: float = BUMP_SHARPNESS) -> np.ndarray:
    """Render isotropic Gaussian bumps centred at ``u``.

    Pixel ``(i, j)`` holds ``exp(-sharpness * ((x_j - u0)^2 + (y_i - u1)^2))``
    with ``x = linspace(0, 1, W)`` and ``y = linspace(0, 1, H)``.

    Parameters
    ----------
    u : array-like of shape (n, 2)
        Bump centres in the unit square (horizontal, vertical).
    size : int or (int, int), default=16
        Image side in pixels, or ``(height, width)``; each at least 2.
    sharpness : float, default=10.0
        Inverse squared width in units of the (unit) image side. The default is
        the paper's value: a standard deviation of ``1 / sqrt(2 * 10) = 0.224``
        image sides, i.e. 3.4 px at 16x16 and 6.9 px at 32x32. The bump is then
        wide enough that even a corner bump spreads over many pixels (so an
        encoder sees it at every position) yet narrow enough to localise; the
        faintest pixel is ``exp(-20) = 2e-9``, far from ``float32`` underflow.
        mutinfo's narrower ``exp(-0.5 ||g - mu||^2 / 0.2^2)`` is ``sharpness=12.5``.

    Returns
    -------
    ndarray of shape (n, 1, H, W), float32
        Values in (0, 1].

    Notes
    -----
    Injective for ``W, H >= 2``: along any row, ``log(pixel)`` is the quadratic
    ``-sharpness (x - u0)^2 + const`` whose slope between two columns gives ``u0``;
    columns give ``u1`` alike. The map is smooth (C-infinity) in ``u``. The bump
    is separable, so the image is an outer product of two 1-D profiles.
    """
    owner = "render_bump"
    u = _check_params(u, 2, "u", owner)
    h, w = _check_size(size, owner)
    sharpness = check_float(sharpness, "sharpness", owner, low=0.0, low_open=True)
    px = np.exp(-sharpness * (_grid(w)[None, :] - u[:, 0:1]) ** 2)  # (n, W)
    py = np.exp(-sharpness * (_grid(h)[None, :] - u[:, 1:2]) ** 2)  # (n, H)
    img = py.astype(np.float32)[:, :, None] * px.astype(np.float32)[:, None, :]
    return img[:, None, :, :]


def _interval_ends(u1: np.ndarray, u2: np.ndarray, m: float) -> tuple[np.ndarray, np.ndarray]:
    """Map two uniforms to ends ``0 <= a < b <= 1`` with ``b - a >= m``, uniform on that set.

    ``a`` has density proportional to ``1 - m - a`` (the length of the valid range
    of ``b``); inverting its CDF gives ``a = (1 - m)(1 - sqrt(1 - u1))``. Given
    ``a``, ``b`` is uniform on ``[a + m, 1]``. Both steps are strictly increasing
    in their uniform, so the map is injective on ``[0, 1) x [0, 1]``.
    """
    a = (1.0 - m) * (1.0 - np.sqrt(1.0 - u1))
    b = a + m + u2 * (1.0 - a - m)
    return a, b


def _coverage(a: np.ndarray, b: np.ndarray, n_pixels: int) -> np.ndarray:
    """Fraction of each of ``n_pixels`` unit-square pixels covered by ``[a, b]``, shape (n, n_pixels)."""
    left = np.arange(n_pixels) / n_pixels
    right = (np.arange(n_pixels) + 1) / n_pixels
    overlap = np.minimum(b[:, None], right[None, :]) - np.maximum(a[:, None], left[None, :])
    return np.clip(overlap * n_pixels, 0.0, 1.0)


def render_rectangle(u, size=32, *, min_side: float | None = None) -> np.ndarray:
    """Render anti-aliased axis-aligned rectangles from four uniforms each.

    Columns ``(u0, u1)`` give the horizontal ends ``a_x < b_x`` and ``(u2, u3)``
    the vertical ends, by :func:`_interval_ends`: the ends are uniform on the set
    of intervals in [0, 1] no shorter than the minimum side ``m``. Each pixel's
    value is the area fraction the rectangle covers, computed as the outer
    product of the clipped per-axis coverages (no per-image loop).

    Parameters
    ----------
    u : array-like of shape (n, 4)
        Uniform parameters in [0, 1].
    size : int or (int, int), default=32
        Image side in pixels, or ``(height, width)``; each at least 2.
    min_side : float or None, default=None
        Minimum side as a fraction of the image side, applied on both axes.
        ``None`` means 2 px on each axis (``2 / W`` and ``2 / H``). Must be at
        least 2 px on both axes and below 1.

    Returns
    -------
    ndarray of shape (n, 1, H, W), float32
        Covered area fraction per pixel, in [0, 1].

    Notes
    -----
    Why 2 px: a side of at least 2 px always contains a fully covered pixel, so
    each per-axis coverage vector has maximum 1, which fixes the scale of the
    outer-product factors; the first and last partially covered pixels then
    give ``a`` and ``b`` exactly. With sides under 2 px the map is not injective
    (the 2x2 block of 0.5 is both ``[0.5, 1.5] x [0, 2]`` and ``[0, 2] x [0.5, 1.5]``
    in pixel units). The map is continuous and piecewise linear in the ends
    (smooth except where an end crosses a pixel boundary).
    """
    owner = "render_rectangle"
    u = _check_params(u, 4, "u", owner)
    h, w = _check_size(size, owner)
    if min_side is None:
        mx, my = 2.0 / w, 2.0 / h
    else:
        m = check_float(min_side, "min_side", owner, low=0.0, high=1.0, low_open=True, high_open=True)
        if m * w < 2.0 - 1e-9 or m * h < 2.0 - 1e-9:
            raise ValueError(
                f"The 'min_side' parameter of {owner} must be at least 2 px on both axes "
                f"(>= {2.0 / min(h, w):.4g} for a {h}x{w} image), or the rectangle map is not injective. "
                f"Got {m} ({m * w:.3g} px wide, {m * h:.3g} px high). Pass a larger min_side or None."
            )
        mx = my = m
    ax, bx = _interval_ends(u[:, 0], u[:, 1], mx)
    ay, by = _interval_ends(u[:, 2], u[:, 3], my)
    cx = _coverage(ax, bx, w).astype(np.float32)
    cy = _coverage(ay, by, h).astype(np.float32)
    img = cy[:, :, None] * cx[:, None, :]
    return img[:, None, :, :]


def render_elliptic_bump(
    u, size=16, *, sigma_range: tuple[float, float] = (0.1, 0.3), max_corr: float = 0.7
) -> np.ndarray:
    """Render anisotropic, tilted Gaussian bumps from five uniforms each.

    With ``u = (u0, ..., u4)``: centre ``mu = (u0, u1)``; standard deviations
    ``s_k = lo + (hi - lo) u_{k+2}`` (``k = 0`` horizontal, ``1`` vertical), in
    image sides; correlation ``r = max_corr (2 u4 - 1)``. Pixel ``(i, j)`` holds
    ``exp(-q / 2)`` with ``q = d^T S^{-1} d``, ``d = (x_j - mu0, y_i - mu1)`` and
    ``S = [[s0^2, r s0 s1], [r s0 s1, s1^2]]``.

    Parameters
    ----------
    u : array-like of shape (n, 5)
        Uniform parameters in [0, 1].
    size : int or (int, int), default=16
        Image side in pixels, or ``(height, width)``; each at least 3.
    sigma_range : (float, float), default=(0.1, 0.3)
        Range ``(lo, hi)`` of the standard deviations, in image sides,
        ``0 < lo < hi``. The default spans 1.5-4.5 px at 16x16.
    max_corr : float, default=0.7
        Largest absolute correlation of the bump, in [0, 1).

    Returns
    -------
    ndarray of shape (n, 1, H, W), float32
        Values in (0, 1].

    Notes
    -----
    Injectivity (H, W >= 3). ``log(pixel) = -q / 2`` is a polynomial of degree 2
    in ``(x, y)``, ``P(x, y) = -(A x^2 + 2 B x y + C y^2)/2 + D x + E y + F`` with
    ``[[A, B], [B, C]] = S^{-1}`` and ``(D, E) = S^{-1} mu``. Any 3x3 tensor grid
    is unisolvent for the tensor-product polynomials of degree 2 per variable,
    which contain ``P``, so the image determines ``A..E``. Then ``S`` is the
    inverse of ``[[A, B], [B, C]]``, ``mu = S (D, E)``, ``s0 = sqrt(S00)``,
    ``s1 = sqrt(S11)``, ``r = S01 / (s0 s1)``, and each ``u_k`` follows from an
    affine bijection. Every step is smooth, so the renderer is a smooth
    injection of ``[0, 1]^5``.
    """
    owner = "render_elliptic_bump"
    u = _check_params(u, 5, "u", owner)
    h, w = _check_size(size, owner)
    if h < 3 or w < 3:
        raise ValueError(
            f"The 'size' parameter of {owner} must be at least 3 on each axis (a 3x3 grid is "
            f"needed to determine the bump). Got {(h, w)} instead."
        )
    if not (isinstance(sigma_range, (tuple, list)) and len(sigma_range) == 2):
        raise TypeError(f"The 'sigma_range' parameter of {owner} must be a pair (lo, hi). Got {sigma_range!r}.")
    lo = check_float(sigma_range[0], "sigma_range", owner, low=0.0, low_open=True)
    hi = check_float(sigma_range[1], "sigma_range", owner, low=0.0, low_open=True)
    if not lo < hi:
        raise ValueError(f"The 'sigma_range' parameter of {owner} must satisfy lo < hi. Got {sigma_range!r}.")
    max_corr = check_float(max_corr, "max_corr", owner, low=0.0, high=1.0, high_open=True)

    s0 = lo + (hi - lo) * u[:, 2]
    s1 = lo + (hi - lo) * u[:, 3]
    r = max_corr * (2.0 * u[:, 4] - 1.0)
    one_minus_r2 = 1.0 - r**2
    # Inverse covariance entries, each of shape (n, 1, 1) for broadcasting.
    a_ = (1.0 / (s0**2 * one_minus_r2))[:, None, None]
    c_ = (1.0 / (s1**2 * one_minus_r2))[:, None, None]
    b_ = (-r / (s0 * s1 * one_minus_r2))[:, None, None]
    gx = _grid(w)
    gy = _grid(h)

    n = u.shape[0]
    out = np.empty((n, 1, h, w), dtype=np.float32)
    step = max(1, _CHUNK_ELEMENTS // (h * w))
    for start in range(0, n, step):  # chunks of many images bound the float64 scratch memory
        sl = slice(start, start + step)
        dx = gx[None, None, :] - u[sl, 0][:, None, None]  # (m, 1, W)
        dy = gy[None, :, None] - u[sl, 1][:, None, None]  # (m, H, 1)
        q = a_[sl] * dx**2 + 2.0 * b_[sl] * dx * dy + c_[sl] * dy**2
        out[sl, 0] = np.exp(-0.5 * q)
    return out


# ---------------------------------------------------------------------------
# registry and dispatcher
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class RendererInfo:
    """A registered renderer.

    Attributes
    ----------
    name : str
        Registry key.
    latent_dim : int
        Number of latent (and uniform) coordinates per image.
    function : callable
        ``function(u, size, **options) -> ndarray (n, 1, H, W)`` on uniforms.
    description : str
        One-line summary.
    """

    name: str
    latent_dim: int
    function: Callable[..., np.ndarray]
    description: str


#: Registered renderers by name.
RENDERERS: dict[str, RendererInfo] = {
    "bump": RendererInfo(
        "bump", 2, render_bump, "isotropic Gaussian bump exp(-10 ||g - mu||^2), centre from the latent"
    ),
    "rectangle": RendererInfo(
        "rectangle", 4, render_rectangle, "anti-aliased axis-aligned rectangle, pixel = covered area"
    ),
    "elliptic_bump": RendererInfo(
        "elliptic_bump", 5, render_elliptic_bump, "tilted anisotropic Gaussian bump: centre, two widths, correlation"
    ),
}


def list_renderers() -> dict[str, int]:
    """Return ``{renderer name: latent dimension}`` for every registered renderer."""
    return {name: info.latent_dim for name, info in RENDERERS.items()}


def _get_renderer(kind: str, owner: str) -> RendererInfo:
    if kind not in RENDERERS:
        raise ValueError(
            f"The 'kind' parameter of {owner} must be one of {sorted(RENDERERS)}. Got {kind!r} instead."
        )
    return RENDERERS[kind]


def render(latents, kind: str = "bump", size=16, **options) -> np.ndarray:
    """Render Gaussian latents to images with a registered renderer.

    The latents go through the standard normal CDF per coordinate, then through
    the renderer ``kind``; the composition is injective, so the images carry
    exactly the latents' mutual information with anything else.

    Parameters
    ----------
    latents : array-like of shape (n, latent_dim)
        Gaussian latents (any real values; standard normal gives uniform
        geometric parameters). ``latent_dim`` must match the renderer:
        see :func:`list_renderers`.
    kind : str, default="bump"
        Renderer name: ``"bump"`` (2), ``"rectangle"`` (4) or ``"elliptic_bump"`` (5).
    size : int or (int, int), default=16
        Image side in pixels, or ``(height, width)``.
    **options
        Keyword options of the renderer (e.g. ``sharpness`` for ``"bump"``,
        ``min_side`` for ``"rectangle"``).

    Returns
    -------
    ndarray of shape (n, 1, H, W), float32
        Images with values in [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> img = render(np.zeros((3, 2)), "bump", 16)
    >>> img.shape, img.dtype
    ((3, 1, 16, 16), dtype('float32'))
    """
    info = _get_renderer(kind, "render")
    arr = to_numpy(latents, "latents")
    if arr.ndim != 2 or arr.shape[1] != info.latent_dim:
        raise ValueError(
            f"The 'latents' argument of render must have shape (n_images, {info.latent_dim}) for "
            f"kind={kind!r}. Got {describe(arr)}."
        )
    return info.function(latents_to_uniform(arr), size, **options)
