"""Synthetic coronagraph scenes for training the inpainting network (numpy).

The network is trained on scenes drawn here, never on the real scenes it is evaluated on. They
are rendered analytically on any pixel window of a frame (no whole frame is made), so a training
sample costs only the pixels around one hole. Every property is drawn from a broad range rather
than fitted to an instrument, so that LASCO C2/C3, STEREO COR1, MLSO K-Cor and browse images
are all inside the distribution:

- **geometry**: Sun centre, occulter radius ``r_occ`` and field stop ``r_field`` relative to
  the hole's distance ``r_c`` from the centre (``r_occ / r_c`` in 0.15-0.85, ``r_field / r_c``
  in 1.05-3), a vignetted (darkened) band inside both edges, sometimes a pylon (a dark strip
  from the occulter outwards) and a frame edge;
- **K + F corona**: ``log I = -alpha log(r / r_c) + c log(r / r_c)^2`` (``alpha`` 1.5-4.5, the
  range of the K and F coronae between 1.1 and 30 Rsun, e.g. Saito et al. 1977, Koutchmy &
  Lamy 1985), a smooth additive F-corona term;
- **rays and streamers**: the K corona is modulated by ``exp(s g(theta', r) + sum_k A_k
  exp(-(theta' - theta_k)^2 / 2 w_k(r)^2))``, where ``g`` is a random angular profile with a
  power-law spectrum (``P(m) ~ m^-p``, ``p`` 1-2.5, unit variance) that evolves along the ray
  over a length ``L`` (two independent profiles mixed by ``cos/sin(pi/2 (r - r_c) / L)``),
  ``theta' = theta + kappa log(r / r_c)`` bends rays slightly off radial, and streamers narrow
  outwards as ``w_k(r) = w_k (r_c / r)^nu``;
- **CMEs** (a third of the scenes): a bright curved front (a circular arc, Gaussian profile),
  a fainter interior, at any position and orientation: structure that is *not* radial;
- **instrumental stray light** (60%): a smooth additive background that is not centred on the
  Sun, 0.01-20 times the corona (stray light dominates raw COR1 and K-Cor images, e.g.
  Thompson et al. 2010, Solar Phys. 261, 215): ``exp`` of a random quadratic over the window
  times a broad ring about a displaced centre;
- **ghosts** (30%): 1-4 out-of-focus dust rings and discs (radius 3-25 px, +-5-50% of the
  local brightness), not radial either;
- **stars**: Gaussian point sources (``sigma`` 0.5-1.3 px), density 0-3e-3 per pixel,
  brightness 0.05-30 times the local corona;
- **noise**: Gaussian with photon-like (``var ~ I``) and read components (relative noise
  0.4-12% at the median), sometimes smoothed afterwards (sigma 0.3-0.9 px, as lossy JPEG 2000
  browse images are);
- **representation**: linear brightness on any scale, with a small pedestal (level 1, MSB,
  B/Bsun; 30%), integer DN over a bias (30%), or byte-scaled 0-255 after a logarithm or a gamma
  0.25-0.7 (browse images, Helioviewer; 40%), rounded.

:func:`render_window` returns the data as stored and where it is usable; :func:`training_sample`
(in :mod:`lascoproc.inpaint.patches`) places a hole on the block grid and adds the radial prior.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import ndimage

__all__ = ["SceneDraw", "draw_scene", "render_window", "REPRESENTATIONS"]

REPRESENTATIONS = ("linear", "dn", "byte")
_NTHETA = 8192


@dataclasses.dataclass(frozen=True)
class SceneDraw:
    """One random scene (module docstring); lengths in pixels of the frame, angles in radians.

    ``center`` is the Sun centre ``(x, y)``; ``r_c`` the reference radius (where the hole is).
    """

    center: tuple[float, float]
    r_c: float
    r_occ: float
    r_field: float
    vignetting: tuple[float, float]
    pylon: tuple[float, float] | None  # (position angle, half width px)
    frame_edge: tuple[float, float, float] | None  # (nx, ny, offset) half-plane n.x > offset
    alpha: float
    curvature: float
    f_corona: float
    rays: np.ndarray  # (2, _NTHETA) unit-variance angular profiles
    ray_contrast: float
    ray_length: float
    tilt: float
    streamers: np.ndarray  # (k, 4): theta_k, w_k, A_k, nu
    cme: tuple[float, ...] | None  # (x, y, radius, width, amplitude, axis angle, half arc)
    stray: tuple[float, ...] | None  # (level, a_x, a_y, a_xx, a_yy, a_xy, ring x, y, R, W)
    ghosts: np.ndarray  # (k, 5): x, y, radius, thickness (0: a disc), amplitude
    star_density: float
    star_sigma: float
    noise: float
    read_noise: float
    blur: float
    representation: str
    transfer: tuple[float, ...]
    beta_boost: float


def _profile(rng: np.random.Generator, slope: float) -> np.ndarray:
    m = np.arange(_NTHETA // 2 + 1, dtype=np.float64)
    amp = np.zeros_like(m)
    amp[2:] = m[2:] ** (-slope / 2.0)
    coeffs = amp * (rng.standard_normal(m.size) + 1j * rng.standard_normal(m.size))
    g = np.fft.irfft(coeffs, n=_NTHETA)
    return (g - g.mean()) / g.std()


def _log_uniform(rng, lo, hi):
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def draw_scene(rng: np.random.Generator, *, center: tuple[float, float], r_c: float,
               hole_radius: float, hole_angle: float = 0.0) -> SceneDraw:
    """Draw a scene whose field contains the annulus ``r_c +- hole_radius`` around ``center``;
    the hole is at position angle ``hole_angle`` (radians from +x), which a frame edge keeps
    clear of."""
    r_occ = r_c * rng.uniform(0.15, 0.85)
    r_occ = min(r_occ, r_c - hole_radius - 3.0)
    r_field = r_c * rng.uniform(1.05, 3.0)
    r_field = max(r_field, r_c + hole_radius + 3.0)
    vignetting = (r_occ * rng.uniform(0.0, 0.3), r_field * rng.uniform(0.0, 0.15))
    pylon = None
    if rng.random() < 0.15:
        pylon = (float(rng.uniform(0, 2 * np.pi)), float(r_c * rng.uniform(0.03, 0.12)))
    edge = None
    if rng.random() < 0.1:
        phi = rng.uniform(0, 2 * np.pi)
        nx_, ny_ = np.cos(phi), np.sin(phi)
        # a straight frame edge 1.5-4 hole radii beyond the hole, in any direction
        hx = center[0] + r_c * np.cos(hole_angle)
        hy = center[1] + r_c * np.sin(hole_angle)
        offset = hx * nx_ + hy * ny_ + hole_radius * rng.uniform(1.5, 4.0)
        edge = (float(nx_), float(ny_), float(offset))
    n_streamers = int(rng.integers(0, 5))
    streamers = np.column_stack([
        rng.uniform(0, 2 * np.pi, n_streamers),
        rng.uniform(0.03, 0.4, n_streamers),
        rng.uniform(0.2, 2.5, n_streamers) * rng.choice([1.0, -0.5], n_streamers, p=[0.8, 0.2]),
        rng.uniform(0.0, 1.0, n_streamers),
    ]) if n_streamers else np.zeros((0, 4))
    cme = None
    if rng.random() < 0.33:
        ang = rng.uniform(0, 2 * np.pi)
        dist = r_c * rng.uniform(0.3, 1.5)
        radius = _log_uniform(rng, 0.2 * r_c, 2.0 * r_c)
        cme = (center[0] + dist * np.cos(ang), center[1] + dist * np.sin(ang), radius,
               _log_uniform(rng, 1.5, 0.08 * radius + 2.0), _log_uniform(rng, 0.1, 3.0),
               float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(0.5, np.pi)))
    stray = None
    if rng.random() < 0.6:
        ang = rng.uniform(0, 2 * np.pi)
        off = r_c * rng.uniform(0.0, 0.4)
        stray = (_log_uniform(rng, 0.01, 20.0), *rng.normal(0.0, 1.0, 2),
                 *rng.normal(0.0, 0.7, 3),
                 center[0] + off * np.cos(ang), center[1] + off * np.sin(ang),
                 r_c * rng.uniform(0.3, 1.5), r_c * rng.uniform(0.05, 0.6))
    n_ghosts = int(rng.integers(1, 5)) if rng.random() < 0.3 else 0
    ghosts = np.column_stack([
        rng.normal(0.0, 1.0, (n_ghosts, 2)) * hole_radius * 2.5,
        rng.uniform(3.0, 25.0, n_ghosts),
        np.where(rng.random(n_ghosts) < 0.3, 0.0, rng.uniform(1.0, 4.0, n_ghosts)),
        rng.uniform(0.05, 0.5, n_ghosts) * rng.choice([-1.0, 1.0], n_ghosts),
    ]) if n_ghosts else np.zeros((0, 5))
    representation = str(rng.choice(REPRESENTATIONS, p=[0.3, 0.3, 0.4]))
    if representation == "byte":
        if rng.random() < 0.5:
            transfer = (0.0, rng.uniform(-2.5, -0.7), rng.uniform(0.2, 1.5))  # log10
        else:
            transfer = (rng.uniform(0.25, 0.7), rng.uniform(-2.5, -0.7), rng.uniform(0.2, 1.5))
    elif representation == "dn":
        transfer = (rng.uniform(0.0, 3.0), _log_uniform(rng, 20.0, 3000.0))  # bias, gain
    else:
        transfer = (_log_uniform(rng, 1e-13, 1e3), rng.normal(0.0, 0.01))  # scale, pedestal
    return SceneDraw(
        center=(float(center[0]), float(center[1])), r_c=float(r_c), r_occ=float(r_occ),
        r_field=float(r_field), vignetting=vignetting, pylon=pylon, frame_edge=edge,
        alpha=float(rng.uniform(1.5, 4.5)), curvature=float(rng.normal(0.0, 0.3)),
        f_corona=float(rng.uniform(0.0, 0.6)),
        rays=np.stack([_profile(rng, rng.uniform(1.0, 2.5)) for _ in range(2)]),
        ray_contrast=float(_log_uniform(rng, 0.02, 0.6)),
        ray_length=float(_log_uniform(rng, 0.1 * r_c, 3.0 * r_c)),
        tilt=float(rng.normal(0.0, 0.08)),
        streamers=streamers, cme=cme, stray=stray, ghosts=ghosts,
        star_density=float(0.0 if rng.random() < 0.25 else _log_uniform(rng, 1e-5, 3e-3)),
        star_sigma=float(rng.uniform(0.5, 1.3)),
        noise=float(_log_uniform(rng, 0.004, 0.12)),
        read_noise=float(_log_uniform(rng, 1e-4, 0.03)),
        blur=float(rng.uniform(0.3, 0.9)) if rng.random() < 0.5 else 0.0,
        representation=representation, transfer=tuple(float(t) for t in transfer),
        beta_boost=float(rng.uniform(0.0, 1.5)),
    )


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _angle_lookup(profile: np.ndarray, theta: np.ndarray) -> np.ndarray:
    pos = (theta % (2 * np.pi)) * (_NTHETA / (2 * np.pi))
    i0 = np.floor(pos).astype(np.int64)
    f = pos - i0
    return profile[i0 % _NTHETA] * (1 - f) + profile[(i0 + 1) % _NTHETA] * f


def _add_stars(image: np.ndarray, rng, scene: SceneDraw, corona: np.ndarray) -> None:
    ny, nx = image.shape
    n = rng.poisson(scene.star_density * nx * ny)
    if not n:
        return
    ys = rng.uniform(-2, ny + 1, n)
    xs = rng.uniform(-2, nx + 1, n)
    yi = np.clip(np.rint(ys).astype(int), 0, ny - 1)
    xi = np.clip(np.rint(xs).astype(int), 0, nx - 1)
    flux = corona[yi, xi] * np.exp(rng.uniform(np.log(0.05), np.log(30.0), n))
    s = scene.star_sigma
    half = int(np.ceil(3 * s))
    dy, dx = np.mgrid[-half:half + 1, -half:half + 1]
    for k in range(n):
        cy, cx = int(np.floor(ys[k])), int(np.floor(xs[k]))
        py, px = cy + dy, cx + dx
        ok = (py >= 0) & (py < ny) & (px >= 0) & (px < nx)
        if not ok.any():
            continue
        w = np.exp(-0.5 * ((py - ys[k]) ** 2 + (px - xs[k]) ** 2) / (s * s))
        image[py[ok], px[ok]] += flux[k] * w[ok]  # peak: flux[k] (0.05-30 x the corona)


def render_window(scene: SceneDraw, rng: np.random.Generator, x0: int, y0: int, nx: int,
                  ny: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Render ``scene`` on the frame pixels ``[y0, y0 + ny) x [x0, x0 + nx)``.

    Returns ``(data, usable, scale)``: the data as stored (float64; NaN where not usable), the
    usable mask, and the scale ``s`` of the frame's asinh normaliser
    (:class:`lascoproc.inpaint.normalise.AsinhNormaliser`, the 99.5th percentile of ``|x|``
    over the frame, here drawn: the window's own times up to 30, byte images 200-255).
    """
    yy, xx = np.mgrid[y0:y0 + ny, x0:x0 + nx].astype(np.float64)
    dx, dy = xx - scene.center[0], yy - scene.center[1]
    r = np.hypot(dx, dy)
    theta = np.arctan2(dy, dx)
    lr = np.log(np.maximum(r, 1.0) / scene.r_c)
    base = np.exp(-scene.alpha * lr + scene.curvature * lr * lr)
    corona = _corona(scene, base, r, theta, lr, xx, yy)
    median = float(np.median(base))
    x = _observe(scene, rng, corona, median)
    usable = _field(scene, r, dx, dy, xx, yy)
    data, usable, scale = _represent(scene, rng, x, usable, median)
    if scale is None:
        q = float(np.percentile(np.abs(data[usable]), 99.5)) if usable.any() else 1.0
        scale = q * 10.0 ** scene.beta_boost
    data = np.where(usable, data, np.nan)
    return data, usable, float(scale)


def _corona(scene: SceneDraw, base, r, theta, lr, xx, yy) -> np.ndarray:
    """K + F corona with rays, streamers, the CME, stray light, ghosts and vignetting."""
    th = theta + scene.tilt * lr
    phase = 0.5 * np.pi * (r - scene.r_c) / scene.ray_length
    g = (_angle_lookup(scene.rays[0], th) * np.cos(phase)
         + _angle_lookup(scene.rays[1], th) * np.sin(phase))
    log_mod = scene.ray_contrast * g
    for t0, w, amp, nu in scene.streamers:
        width = w * (scene.r_c / np.maximum(r, 1.0)) ** nu
        delta = (th - t0 + np.pi) % (2 * np.pi) - np.pi
        log_mod = log_mod + amp * np.exp(-0.5 * (delta / width) ** 2)
    corona = base * np.exp(log_mod) + scene.f_corona * np.exp(-2.3 * lr)
    if scene.cme is not None:
        cx, cy, radius, width, amp, axis, half_arc = scene.cme
        d = np.hypot(xx - cx, yy - cy)
        ang = np.arctan2(yy - cy, xx - cx)
        along = np.abs((ang - axis + np.pi) % (2 * np.pi) - np.pi)
        arc = _smoothstep((half_arc - along) / 0.3)
        shell = np.exp(-0.5 * ((d - radius) / width) ** 2) + 0.3 * _smoothstep(
            (radius - d) / (3 * width))
        corona = corona * (1.0 + amp * arc * shell)
    corona = _instrumental(scene, corona, float(np.median(base)), theta, xx, yy)
    corona = corona * _smoothstep((r - scene.r_occ) / max(scene.vignetting[0], 1e-6))
    return corona * _smoothstep((scene.r_field - r) / max(scene.vignetting[1], 1e-6))


def _instrumental(scene: SceneDraw, corona, median_k: float, theta, xx, yy) -> np.ndarray:
    """Stray light (added) and ghosts (multiplied), placed relative to the hole."""
    hole_x = scene.center[0] + scene.r_c * np.cos(float(np.median(theta)))
    hole_y = scene.center[1] + scene.r_c * np.sin(float(np.median(theta)))
    if scene.stray is not None:
        level, ax, ay, axx, ayy, axy, rx, ry, ring_r, ring_w = scene.stray
        u = (xx - hole_x) / scene.r_c
        v = (yy - hole_y) / scene.r_c
        poly = ax * u + ay * v + axx * u * u + ayy * v * v + axy * u * v
        d = np.hypot(xx - rx, yy - ry)
        ring = 0.5 + np.exp(-0.5 * ((d - ring_r) / ring_w) ** 2)
        corona = corona + level * median_k * np.exp(np.clip(poly, -5.0, 5.0)) * ring
    if len(scene.ghosts):
        ghost = np.zeros_like(corona)
        for gx, gy, radius, thick, amp in scene.ghosts:
            d = np.hypot(xx - hole_x - gx, yy - hole_y - gy)
            if thick > 0:
                ghost += amp * np.exp(-0.5 * ((d - radius) / thick) ** 2)
            else:
                ghost += amp * _smoothstep((radius - d) / 2.0)
        corona = corona * np.maximum(1.0 + ghost, 0.05)
    return corona


def _observe(scene: SceneDraw, rng, corona, median: float) -> np.ndarray:
    """Stars, photon-like and read noise, and the optional smoothing of lossy compression."""
    sky = corona.copy()
    _add_stars(sky, rng, scene, np.maximum(corona, 1e-3 * median))
    sigma = np.sqrt(scene.noise ** 2 * median * np.maximum(sky, 0.0)
                    + (scene.read_noise * median) ** 2)
    x = sky + sigma * rng.standard_normal(sky.shape)
    if scene.blur > 0:
        x = ndimage.gaussian_filter(x, scene.blur, mode="nearest")
    return x


def _field(scene: SceneDraw, r, dx, dy, xx, yy) -> np.ndarray:
    """Where there are data: between occulter and field stop, off the pylon, on the frame."""
    usable = (r >= scene.r_occ) & (r <= scene.r_field)
    if scene.pylon is not None:
        pa, half = scene.pylon
        along = dx * np.cos(pa) + dy * np.sin(pa)
        across = np.abs(-dx * np.sin(pa) + dy * np.cos(pa))
        usable &= ~((along > 0) & (across < half))
    if scene.frame_edge is not None:
        ex, ey, off = scene.frame_edge
        usable &= (xx * ex + yy * ey) <= off
    return usable


def _represent(scene: SceneDraw, rng, x, usable, median: float):
    """The data as stored: ``(data, usable, scale or None)`` (module docstring)."""
    if scene.representation == "byte":
        gamma, lo, hi = scene.transfer
        lo_v, hi_v = median * 10.0 ** lo, median * 10.0 ** hi
        xp = np.maximum(x, lo_v * 1e-3)
        if gamma == 0.0:
            t = (np.log10(xp) - np.log10(lo_v)) / (np.log10(hi_v) - np.log10(lo_v))
        else:
            t = (xp ** gamma - lo_v ** gamma) / (hi_v ** gamma - lo_v ** gamma)
        data = np.rint(255.0 * np.clip(t, 0.0, 1.0))
        usable = usable & (data > 0)  # a browse image's black is "no data"
        return data, usable, float(rng.uniform(200.0, 255.0))
    if scene.representation == "dn":
        bias, gain = scene.transfer
        return np.rint((bias * median + x) / median * gain), usable, None
    factor, pedestal = scene.transfer
    return (x + pedestal * median) / median * factor, usable, None
