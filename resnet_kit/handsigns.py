"""The kit's own hand-signs dataset: a seeded, procedural renderer in pure NumPy.

Each image shows one right hand, palm to the camera, entering from the bottom edge with wrist
and forearm, holding up 0-5 fingers (class 0 is an "O" made by the curled fingers touching the
thumb). It mimics the layout of the classic SIGNS photos (64x64x3 uint8, 1080 train / 120 test
in the Coursera h5 schema) without any of their pixels.

How an image is made (see :func:`render_image`):

* the hand is a stack of signed-distance-field parts in "hand units" (palm width = 1): a rounded
  palm polygon smoothly joined to the thumb's ball and a forearm that runs off the bottom edge;
  fingers are chains of 3 capsules (phalanges), the thumb a chain from the side of the palm.
  Raised fingers point up with some spread and bend; folded ones are short curled stubs over
  the palm; class 0 curls all fingers over to touch the thumb tip, leaving a hole;
* parts are drawn back to front at 4x resolution (256x256) with smooth coverage, Lambert shading
  from a normal estimated from the distance field, and a contact shadow that each part casts on
  the skin under it (the dark lines between fingers); palm creases and skin texture are added;
* the hand is box-downsampled to 64x64 and laid on a light, tinted, slightly textured wall with
  a gradient and a soft drop shadow; then blur, chroma softening (as JPEG does) and sensor noise.

Everything random comes from ``np.random.default_rng([base_seed, split_id, index])``, so any
single image can be regenerated on its own, and a seed gives bit-identical arrays on the same
machine and NumPy version. The label order is a seeded permutation of equal class counts.

Command line (also installed as ``resnet-kit-data``)::

    python -m resnet_kit.handsigns generate   # write the h5 files and the preview
    python -m resnet_kit.handsigns verify     # regenerate and compare with the files on disk
    python -m resnet_kit.handsigns preview    # redraw data/signs/preview.png from the h5

This module knows the public splits only (train and test, handed to students). The grader's
hidden split is rendered by the same code, but its seed and file are recorded in the
instructor-only ``autograder.resnets.hidden_split`` (instructors make a private one with
``python -m autograder.resnets.hidden_split --random-seed``). Where that package is installed,
``generate`` and ``verify`` cover the hidden split too; in a student install they do not.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

IMAGE_SIZE = 64
SUPERSAMPLE = 4
HI = IMAGE_SIZE * SUPERSAMPLE
CLASSES = np.arange(6, dtype=np.int64)

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = REPO_ROOT / "data" / "signs"
# Where the instructor-only hidden split lives in a full checkout (a path, not a seed).
HIDDEN_PATH = REPO_ROOT / "autograder" / "resnets" / "data" / "signs_hidden.h5"
PREVIEW_PATH = DATA_DIR / "preview.png"


@dataclasses.dataclass(frozen=True)
class Split:
    name: str
    split_id: int
    base_seed: int
    per_class: int
    prefix: str  # h5 key prefix: "train_set" or "test_set"
    filename: str

    @property
    def size(self) -> int:
        return self.per_class * len(CLASSES)


# The public splits, with distinct seeds and split ids, so no image repeats across splits.
# Split id 2 is the hidden split's (autograder/resnets/hidden_split.py): whatever its seed, its
# images come from other random streams than these.
SPLITS = {
    "train": Split("train", 0, 20240601, 180, "train_set", "train_signs.h5"),
    "test": Split("test", 1, 20240602, 20, "test_set", "test_signs.h5"),
}


def instructor_splits(hidden_path: Path | None = None) -> dict[str, Split]:
    """Splits recorded in the instructor-only package (the hidden split), if it is installed."""
    try:
        from autograder.resnets import hidden_split
    except ImportError:  # a student install: no hidden split
        return {}
    return {"hidden": hidden_split.current_split(hidden_path)}


def all_splits(hidden_path: Path | None = None) -> dict[str, Split]:
    return {**SPLITS, **instructor_splits(hidden_path)}


def get_split(split: str | Split) -> Split:
    """A :class:`Split` by name ("train", "test"; "hidden" needs the instructor package)."""
    if not isinstance(split, str):  # a Split (also one of `python -m`'s second copy of it)
        return split
    if split in SPLITS:
        return SPLITS[split]
    extra = instructor_splits()
    if split in extra:
        return extra[split]
    raise KeyError(
        f"unknown split {split!r}: this install knows {sorted(SPLITS) + sorted(extra)}"
    )


def default_path(split: str, data_dir: Path | None = None, hidden_path: Path | None = None) -> Path:
    if split == "hidden":
        if hidden_path is not None:
            return Path(hidden_path)
        try:
            from autograder.resnets import hidden_split
        except ImportError:
            return HIDDEN_PATH
        return hidden_split.HIDDEN_PATH
    return (Path(data_dir) if data_dir is not None else DATA_DIR) / SPLITS[split].filename


def split_labels(split: str | Split) -> np.ndarray:
    """The labels of a split, in file order: equal counts per class, shuffled with its seed."""
    s = get_split(split)
    labels = np.repeat(CLASSES, s.per_class)
    order = np.random.default_rng([s.base_seed, s.split_id, 999_999_999]).permutation(s.size)
    return labels[order]


def image_rng(split: str | Split, index: int) -> np.random.Generator:
    s = get_split(split)
    return np.random.default_rng([s.base_seed, s.split_id, int(index)])


# --------------------------------------------------------------------------------------------
# Distance fields (all in hi-res pixel units, on a window of the canvas)


def _capsule(X, Y, a, b, ra, rb):
    """Distance to a capsule from a to b whose radius goes linearly from ra to rb."""
    bax, bay = b[0] - a[0], b[1] - a[1]
    pax, pay = X - a[0], Y - a[1]
    h = np.clip((pax * bax + pay * bay) / (bax * bax + bay * bay + 1e-9), 0.0, 1.0)
    dx, dy = pax - bax * h, pay - bay * h
    return np.sqrt(dx * dx + dy * dy) - (ra + (rb - ra) * h)


def _polygon(X, Y, V):
    """Signed distance to a simple polygon with vertices V (n, 2)."""
    d = (X - V[0, 0]) ** 2 + (Y - V[0, 1]) ** 2
    s = np.ones_like(X)
    n = len(V)
    for i in range(n):
        j = i - 1
        ex, ey = V[j, 0] - V[i, 0], V[j, 1] - V[i, 1]
        wx, wy = X - V[i, 0], Y - V[i, 1]
        h = np.clip((wx * ex + wy * ey) / (ex * ex + ey * ey), 0.0, 1.0)
        bx, by = wx - ex * h, wy - ey * h
        d = np.minimum(d, bx * bx + by * by)
        c1 = Y >= V[i, 1]
        c2 = Y < V[j, 1]
        c3 = ex * wy > ey * wx
        flip = (c1 & c2 & c3) | (~c1 & ~c2 & ~c3)
        s = np.where(flip, -s, s)
    return s * np.sqrt(d)


def _smin(a, b, k):
    h = np.maximum(k - np.abs(a - b), 0.0) / k
    return np.minimum(a, b) - h * h * k * 0.25


def _smooth_noise(rng, shape, cells):
    """Smooth value noise in [-1, 1]: a random (cells+1)^2 grid, bilinearly upsampled."""
    g = rng.uniform(-1.0, 1.0, size=(cells + 1, cells + 1))
    h, w = shape
    y = np.linspace(0, cells, h, endpoint=False) + 0.5 * cells / h
    x = np.linspace(0, cells, w, endpoint=False) + 0.5 * cells / w
    y0 = np.minimum(y.astype(int), cells - 1)
    x0 = np.minimum(x.astype(int), cells - 1)
    fy = (y - y0)[:, None]
    fx = (x - x0)[None, :]
    fy = fy * fy * (3 - 2 * fy)
    fx = fx * fx * (3 - 2 * fx)
    a = g[y0][:, x0]
    b = g[y0][:, x0 + 1]
    c = g[y0 + 1][:, x0]
    d = g[y0 + 1][:, x0 + 1]
    return (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy


def _blur(img, sigma):
    """Separable Gaussian blur with edge padding; img is (H, W) or (H, W, C)."""
    if sigma <= 0.05:
        return img
    r = max(1, int(np.ceil(3 * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    pad = [(r, r), (0, 0)] + [(0, 0)] * (img.ndim - 2)
    p = np.pad(img, pad, mode="edge")
    out = sum(k[i] * p[i : i + img.shape[0]] for i in range(2 * r + 1))
    pad = [(0, 0), (r, r)] + [(0, 0)] * (img.ndim - 2)
    p = np.pad(out, pad, mode="edge")
    return sum(k[i] * p[:, i : i + img.shape[1]] for i in range(2 * r + 1))


# --------------------------------------------------------------------------------------------
# The hand, in hand units: palm centre at (0, 0), palm width 1, v pointing to the fingers.
# The thumb is on the image's right: a right hand seen from its palm side.

FINGERS = ("index", "middle", "ring", "little")
KNUCKLE_U = np.array([0.34, 0.11, -0.12, -0.34])
KNUCKLE_V = np.array([0.48, 0.54, 0.50, 0.40])
FINGER_LEN = np.array([0.88, 1.0, 0.93, 0.72])
FINGER_RAD = np.array([0.118, 0.122, 0.114, 0.100])
PHALANX = np.array([0.45, 0.31, 0.24])
PALM = np.array(
    [
        [-0.40, -0.52],
        [0.34, -0.54],
        [0.44, -0.05],
        [0.42, 0.44],
        [0.16, 0.52],
        [-0.14, 0.49],
        [-0.39, 0.37],
        [-0.44, -0.05],
    ]
)
THUMB_BASE = np.array([0.34, -0.34])

# Which fingers are raised, per class: (probability, thumb raised, raised finger indices).
SIGN_VARIANTS = {
    # (A lone middle finger is deliberately left out: it reads as an obscene gesture.)
    1: [(0.80, False, (0,)), (0.20, True, ())],
    2: [(0.72, False, (0, 1)), (0.28, True, (0,))],
    3: [(0.50, True, (0, 1)), (0.50, False, (0, 1, 2))],
    4: [(1.0, False, (0, 1, 2, 3))],
    5: [(1.0, True, (0, 1, 2, 3))],
}


def _chain(base, angle, lengths, turns):
    """Joint positions of a chain of segments; angles in degrees, 90 = towards the fingers."""
    pts = [np.asarray(base, float)]
    a = angle
    for length, turn in zip(lengths, turns):
        a += turn
        r = np.deg2rad(a)
        pts.append(pts[-1] + length * np.array([np.cos(r), np.sin(r)]))
    return pts


@dataclasses.dataclass
class _Part:
    kind: str  # "body" or "chain"
    points: list  # hand units
    radii: list  # per joint, hand units
    relief: float  # how round it looks (hand units): the normal tilts within this of the edge
    shade: float = 1.0  # brightness factor
    ao: float = 0.45  # strength of the contact shadow it casts on skin under it
    role: str = ""  # body, raised, folded, curled (class 0), thumb-up, thumb-folded, thumb-o


def _hand_parts(label: int, rng: np.random.Generator):
    """The parts of a hand showing ``label``, back to front, plus the palm crease polylines."""
    finger_scale = rng.uniform(0.85, 1.12)
    width_scale = rng.uniform(0.88, 1.12)
    lengths = FINGER_LEN * finger_scale * rng.uniform(0.95, 1.05, 4)
    radii = FINGER_RAD * width_scale * rng.uniform(0.95, 1.05, 4)
    knuckle_v = KNUCKLE_V + rng.normal(0, 0.015, 4)
    spread = rng.uniform(3.0, 15.0)  # degrees between neighbouring raised fingers
    fan = np.array([-1.0, -0.2, 0.6, 1.4]) * spread + rng.normal(0, 2.0, 4)
    thumb_scale = rng.uniform(0.9, 1.1)
    thumb_r = 0.125 * width_scale

    if label == 0:
        thumb_up, raised = None, ()
    else:
        variants = SIGN_VARIANTS[label]
        k = rng.choice(len(variants), p=[v[0] for v in variants])
        _, thumb_up, raised = variants[k]

    parts = [
        _Part("body", [], [], relief=0.30, ao=0.0, role="body"),
    ]
    # Folded fingers first (behind raised ones), little finger at the back.
    folded, up, curled = [], [], []
    for f in (3, 2, 1, 0):
        base = np.array([KNUCKLE_U[f], knuckle_v[f]])
        L, r = lengths[f], radii[f]
        if label == 0:
            curl2 = rng.uniform(50, 72)
            curl3 = rng.uniform(50, 75)
            pts = _chain(
                base,
                90 + fan[f] * 0.3 + rng.normal(0, 3),
                L * PHALANX * np.array([rng.uniform(0.65, 0.85), 0.85, 0.8]),
                [0, -curl2, -curl3],
            )
            radii_o = [r * 1.1, r * 1.1, r * 1.0, r * 0.9]
            curled.append(_Part("chain", pts, radii_o, relief=r, role="curled"))
        elif f in raised:
            fs = rng.uniform(0.85, 1.0, 3)  # foreshortening from a slight bend
            pts = _chain(base, 90 + fan[f], L * PHALANX * fs, rng.normal(0, 4, 3))
            radii_up = [r, r * 0.97, r * 0.92, r * 0.85]
            up.append(_Part("chain", pts, radii_up, relief=r, role="raised"))
        else:
            # Curled towards the camera: a short hump above the knuckle, then the middle and
            # distal phalanges lying down over the palm.
            top = rng.uniform(0.08, 0.16) * L
            down1 = rng.uniform(0.26, 0.36) * L
            down2 = rng.uniform(0.10, 0.18) * L
            lean = rng.normal(0, 6)
            turns = [0, 180 + rng.normal(0, 8), rng.normal(0, 10)]
            pts = _chain(base, 90 + lean, [top, down1, down2], turns)
            radii_f = [r * 1.12, r * 1.15, r * 1.1, r * 1.0]
            folded.append(
                _Part("chain", pts, radii_f, relief=r * 1.1, shade=1.04, role="folded")
            )

    # The thumb.
    tb = THUMB_BASE + rng.normal(0, 0.02, 2)
    if label == 0:
        index_tip = curled[-1].points[-1]
        tip = index_tip + np.array([rng.normal(0.02, 0.02), -0.07])
        mid = 0.5 * (tb + tip)
        dirv = tip - tb
        perp = np.array([dirv[1], -dirv[0]]) / np.linalg.norm(dirv)  # to the right of the thumb
        mid = mid + perp * rng.uniform(0.22, 0.32) * thumb_scale
        knuckle = 0.5 * (mid + tip) + perp * 0.05
        radii_t = [thumb_r * 1.2, thumb_r, thumb_r * 0.95, thumb_r * 0.85]
        thumb = _Part("chain", [tb, mid, knuckle, tip], radii_t, relief=thumb_r, role="thumb-o")
    elif thumb_up:
        a0 = rng.uniform(28, 55)
        pts = _chain(
            tb,
            a0,
            np.array([0.32, 0.26, 0.21])
            * thumb_scale
            * np.array([1, rng.uniform(0.85, 1), rng.uniform(0.85, 1)]),
            [0, rng.uniform(0, 18), rng.uniform(-5, 15)],
        )
        radii_t = [thumb_r * 1.4, thumb_r * 1.15, thumb_r * 1.02, thumb_r * 0.9]
        thumb = _Part("chain", pts, radii_t, relief=thumb_r, role="thumb-up")
    else:
        # Folded across the palm (over any folded fingers).
        a0 = rng.uniform(125, 145)
        pts = _chain(
            tb,
            a0,
            np.array([0.28, 0.22, 0.17]) * thumb_scale,
            [0, rng.uniform(15, 32), rng.uniform(0, 15)],
        )
        radii_t = [thumb_r * 1.3, thumb_r * 1.12, thumb_r * 1.05, thumb_r * 0.95]
        thumb = _Part(
            "chain", pts, radii_t, relief=thumb_r, shade=1.03, role="thumb-folded"
        )

    parts += folded
    if label == 0:
        parts += curled
        parts.append(thumb)
    elif thumb_up:
        parts += up
        parts.append(thumb)
    else:
        parts.append(thumb)
        parts += up

    # Palm creases (hand units): heart line, head line, life line.
    j = lambda s=0.03: rng.normal(0, s)  # noqa: E731
    creases = [
        np.array([[-0.42, 0.22 + j()], [-0.1, 0.26 + j()], [0.2, 0.33 + j()], [0.32, 0.44 + j()]]),
        np.array([[-0.42, 0.02 + j()], [-0.1, 0.10 + j()], [0.2, 0.18 + j()], [0.38, 0.26 + j()]]),
        np.array([[0.38, 0.22 + j()], [0.18, 0.05 + j()], [0.12, -0.2 + j()], [0.16, -0.5]]),
    ]
    return parts, creases


# --------------------------------------------------------------------------------------------
# Drawing


def _skin_colour(rng):
    """A palm-side skin colour (RGB in 0..1) from a wide light-to-dark range, and the back one."""
    stops = np.array(
        [
            [0.96, 0.80, 0.70],
            [0.90, 0.69, 0.55],
            [0.76, 0.54, 0.40],
            [0.58, 0.39, 0.27],
            [0.40, 0.26, 0.18],
            [0.29, 0.19, 0.14],
        ]
    )
    t = rng.uniform(0, len(stops) - 1)
    i = min(int(t), len(stops) - 2)
    skin = stops[i] + (stops[i + 1] - stops[i]) * (t - i)
    skin = skin * np.array([1.0, rng.uniform(0.96, 1.04), rng.uniform(0.92, 1.08)])
    # Palms are lighter and pinker than the back of the hand, most of all on dark skin.
    lift = 0.10 + 0.25 * (t / (len(stops) - 1))
    palm = skin + (np.array([0.95, 0.72, 0.64]) - skin) * lift
    return np.clip(palm, 0, 1), np.clip(skin, 0, 1)


def render_image(label: int, rng: np.random.Generator) -> np.ndarray:
    """Render one 64x64x3 uint8 image of a hand showing ``label`` (0-5) fingers."""
    parts, creases = _hand_parts(int(label), rng)
    palm_col, arm_col = _skin_colour(rng)

    # Pose: palm width in output pixels, rotation, position. None of it depends on the label.
    scale = rng.uniform(19.0, 26.0) * SUPERSAMPLE
    theta = np.deg2rad(rng.uniform(-20, 20))
    cx = rng.uniform(0.36, 0.64) * HI
    cy = rng.uniform(1.0, 11.0) * SUPERSAMPLE + 1.6 * scale  # fingertips land near the top
    c, s = np.cos(theta), np.sin(theta)

    def to_px(p):
        p = np.asarray(p, float)
        px = cx + scale * (p[..., 0] * c - p[..., 1] * s)
        py = cy - scale * (p[..., 0] * s + p[..., 1] * c)
        return np.stack([px, py], -1)

    # Light: direction (image x right, y down, z to the camera), strength.
    az = rng.uniform(0, 2 * np.pi)
    el = np.deg2rad(rng.uniform(35, 75))
    light = np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
    ambient = rng.uniform(0.30, 0.50)
    diffuse = rng.uniform(0.55, 0.85)
    exposure = rng.uniform(0.88, 1.12)

    colour = np.zeros((HI, HI, 3), np.float64)
    alpha = np.zeros((HI, HI), np.float64)
    yy, xx = np.mgrid[0:HI, 0:HI].astype(np.float64) + 0.5
    ao_width = rng.uniform(0.035, 0.06) * scale

    for part in parts:
        if part.kind == "body":
            V = to_px(PALM)
            rnd = 0.07 * scale
            thenar_a, thenar_b = to_px([0.26, -0.42]), to_px([0.38, -0.05])
            wrist_a, wrist_b = to_px([0.0, -0.45]), to_px([0.03, -3.2])
            x0, y0 = 0, max(0, int(min(V[:, 1].min(), wrist_a[1]) - 0.3 * scale))
            x1, y1 = HI, HI
            X, Y = xx[y0:y1, x0:x1], yy[y0:y1, x0:x1]
            # Shrink the polygon's distance by the rounding radius: rounded corners.
            d = _polygon(X, Y, V) - rnd * 0.4
            thenar = _capsule(X, Y, thenar_a, thenar_b, 0.17 * scale, 0.12 * scale)
            d = _smin(d, thenar, 0.15 * scale)
            d = _smin(d, _capsule(X, Y, wrist_a, wrist_b, 0.33 * scale, 0.42 * scale), 0.25 * scale)
            # The forearm is the back-of-hand colour, the palm the lighter palm colour.
            v = (-(X - cx) * s - (Y - cy) * c) / scale  # hand-frame height of each pixel
            t = np.clip((-0.5 - v) / 0.5, 0, 1)
            t = t[..., None]
            base = palm_col[None, None] * (1 - t) + arm_col[None, None] * t * 0.97
        else:
            P = to_px(np.array(part.points))
            R = np.array(part.radii) * scale
            m = R.max() + ao_width * 3 + 2
            x0 = max(0, int(P[:, 0].min() - m))
            x1 = min(HI, int(P[:, 0].max() + m) + 1)
            y0 = max(0, int(P[:, 1].min() - m))
            y1 = min(HI, int(P[:, 1].max() + m) + 1)
            if x1 <= x0 or y1 <= y0:
                continue
            X, Y = xx[y0:y1, x0:x1], yy[y0:y1, x0:x1]
            d = _capsule(X, Y, P[0], P[1], R[0], R[1])
            for k in range(1, len(P) - 1):
                d = _smin(d, _capsule(X, Y, P[k], P[k + 1], R[k], R[k + 1]), 0.02 * scale)
            base = np.broadcast_to(palm_col, X.shape + (3,))
            # Joint creases across the finger: faint darkening near each inner joint.
            crease = np.ones_like(X)
            for k in range(1, len(P) - 1):
                dj = np.sqrt((X - P[k][0]) ** 2 + (Y - P[k][1]) ** 2)
                crease *= 1 - 0.18 * np.exp(-((dj / (0.25 * R[k])) ** 2))
            base = base * crease[..., None]

        # Coverage and a normal from the distance field.
        a = np.clip(0.5 - d, 0.0, 1.0)
        gy, gx = np.gradient(d)
        gn = np.sqrt(gx * gx + gy * gy) + 1e-6
        relief = part.relief * scale
        tt = 1.0 - np.clip(-d / relief, 0.0, 1.0)  # 1 at the edge, 0 deep inside
        nz = np.sqrt(np.clip(1.0 - tt * tt, 0.0, 1.0))
        lam = (gx / gn * tt) * light[0] + (gy / gn * tt) * light[1] + nz * light[2]
        shading = ambient + diffuse * np.clip(lam, 0.0, None)
        shading = shading * (1.0 - 0.12 * tt**4)  # rim darkening where the surface turns away
        col = base * (shading * part.shade)[..., None]

        # Contact shadow cast on the skin already drawn.
        if part.ao > 0:
            occ = 1.0 - part.ao * np.exp(-np.maximum(d, 0.0) / ao_width)
            colour[y0:y1, x0:x1] *= occ[..., None]
        colour[y0:y1, x0:x1] = col * a[..., None] + colour[y0:y1, x0:x1] * (1 - a[..., None])
        alpha[y0:y1, x0:x1] = a + alpha[y0:y1, x0:x1] * (1 - a)

        if part.kind == "body":
            # Palm creases, drawn on the palm only (before the fingers cover it).
            inside = np.clip(-d / (0.05 * scale), 0, 1) * (v > -0.55)
            dark = np.zeros_like(X)
            for line in creases:
                Pl = to_px(line)
                dl = np.full_like(X, 1e9)
                for k in range(len(Pl) - 1):
                    dl = np.minimum(dl, _capsule(X, Y, Pl[k], Pl[k + 1], 0.0, 0.0))
                dark = np.maximum(dark, np.exp(-((dl / (0.013 * scale)) ** 2)))
            colour[y0:y1, x0:x1] *= (1 - rng.uniform(0.06, 0.14) * dark * inside)[..., None]

    # Skin texture: low-frequency blotches and fine grain.
    tex = rng.uniform(0.02, 0.06) * _smooth_noise(rng, (HI, HI), 8)
    tex = 1 + tex + 0.02 * _smooth_noise(rng, (HI, HI), 40)
    colour *= tex[..., None]

    # Down to 64x64 (box filter; colour is premultiplied by coverage).
    f = SUPERSAMPLE
    colour = colour.reshape(IMAGE_SIZE, f, IMAGE_SIZE, f, 3).mean(axis=(1, 3))
    alpha = alpha.reshape(IMAGE_SIZE, f, IMAGE_SIZE, f).mean(axis=(1, 3))

    # The wall: light, tinted, with a gradient and a little texture.
    n = IMAGE_SIZE
    wall = rng.uniform(0.70, 0.95) * np.array([1.0, 0.99, 0.96]) * (1 + rng.normal(0, 0.018, 3))
    gdir = rng.uniform(0, 2 * np.pi)
    gyy, gxx = np.mgrid[0:n, 0:n] / n - 0.5
    ramp = (gxx * np.cos(gdir) + gyy * np.sin(gdir)) * rng.uniform(0.0, 0.35)
    blotch = rng.uniform(0.01, 0.04) * _smooth_noise(rng, (n, n), 5)
    bg = wall[None, None] * (1 + ramp[..., None] + blotch[..., None])
    bg = bg * (1 + 0.012 * _smooth_noise(rng, (n, n), 24)[..., None])
    # Soft drop shadow of the hand on the wall, away from the light.
    dist = rng.uniform(1.5, 5.0) / np.tan(el) * 0.8
    planar = np.hypot(light[0], light[1]) + 1e-9
    sx, sy = -light[0] / planar * dist, -light[1] / planar * dist
    ix, iy = int(round(sx)), int(round(sy))
    pad = 8
    A = np.pad(alpha, pad, mode="edge")
    shadow = A[pad - iy : pad - iy + n, pad - ix : pad - ix + n]
    shadow = _blur(shadow, rng.uniform(1.2, 3.0))
    bg = bg * (1 - rng.uniform(0.18, 0.40) * shadow)[..., None]

    img = colour + bg * (1 - alpha[..., None])
    img = img * exposure * (1 + rng.normal(0, 0.03, 3))  # white balance

    # Camera: blur, chroma softening, sensor noise.
    img = _blur(img, rng.uniform(0.25, 0.75))
    luma = img @ np.array([0.299, 0.587, 0.114])
    chroma = _blur(img - luma[..., None], rng.uniform(0.6, 1.2))
    img = luma[..., None] + chroma
    noise = rng.uniform(0.004, 0.016)
    img = img + rng.normal(0, noise, img.shape)
    img = img + rng.normal(0, noise * 0.6, img.shape[:2])[..., None]
    return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)


def render_split(split: str | Split, indices=None) -> tuple[np.ndarray, np.ndarray]:
    """Render a whole split (or the images at ``indices``): (x uint8 (n,64,64,3), y int64 (n,))."""
    split = get_split(split)
    labels = split_labels(split)
    if indices is None:
        indices = range(len(labels))
    indices = [int(i) for i in indices]
    x = np.empty((len(indices), IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8)
    for k, i in enumerate(indices):
        x[k] = render_image(labels[i], image_rng(split, i))
    return x, labels[indices].astype(np.int64)


# --------------------------------------------------------------------------------------------
# Files


def write_h5(path: Path, split: str | Split, x: np.ndarray, y: np.ndarray, attrs=None) -> None:
    """Write a split in the Coursera schema; ``attrs``: file attributes (not datasets)."""
    import h5py

    prefix = get_split(split).prefix
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.create_dataset(f"{prefix}_x", data=x, compression="gzip", compression_opts=4)
        f.create_dataset(f"{prefix}_y", data=y.astype(np.int64))
        f.create_dataset("list_classes", data=CLASSES)
        for key, value in (attrs or {}).items():
            f.attrs[key] = value


def write_preview(train_path: Path, out_path: Path, columns: int = 10, zoom: int = 2) -> Path:
    """A grid: one labelled row per class, ``columns`` train images each, upscaled (nearest)."""
    from PIL import Image, ImageDraw

    from resnet_kit.data import load_signs_split  # the checked reader, shared with notebooks

    x, y, _ = load_signs_split(train_path)
    y = y.ravel()
    cell = IMAGE_SIZE * zoom
    gap, left = 4, 70
    W = left + columns * (cell + gap)
    H = len(CLASSES) * (cell + gap) + gap
    canvas = Image.new("RGB", (W, H), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for row, c in enumerate(CLASSES):
        idx = np.flatnonzero(y == c)[:columns]
        top = gap + row * (cell + gap)
        draw.text((10, top + cell // 2 - 6), f"class {c}", fill=(0, 0, 0))
        for col, i in enumerate(idx):
            tile = Image.fromarray(x[i]).resize((cell, cell), Image.NEAREST)
            canvas.paste(tile, (left + col * (cell + gap), top))
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out_path)
    return out_path


def _splits(args) -> dict[str, Split]:
    return all_splits(args.hidden_path)


def _paths(args):
    return {name: default_path(name, args.data_dir, args.hidden_path) for name in _splits(args)}


def _split_attrs(name: str, split: Split) -> dict:
    if name != "hidden":
        return {}
    from autograder.resnets import hidden_split

    return hidden_split.file_attrs(split)


def cmd_generate(args) -> int:
    paths = _paths(args)
    splits = _splits(args)
    total = 0.0
    for name, split in splits.items():
        t0 = time.perf_counter()
        x, y = render_split(split)
        write_h5(paths[name], split, x, y, attrs=_split_attrs(name, split))
        dt = time.perf_counter() - t0
        total += dt
        counts = np.bincount(y, minlength=6).tolist()
        print(
            f"{name}: {len(y)} images, per class {counts}, seed {split.base_seed}"
            f" -> {paths[name]} ({dt:.1f} s)"
        )
    print(f"generated {sum(s.size for s in splits.values())} images in {total:.1f} s")
    if not args.no_preview:
        preview = args.preview or (paths["train"].parent / PREVIEW_PATH.name)
        write_preview(paths["train"], preview)
        print(f"preview -> {preview}")
    return 0


def cmd_verify(args) -> int:
    import h5py

    paths = _paths(args)
    splits = _splits(args)
    problems = []
    for name in args.split or list(splits):
        if name not in splits:
            problems.append(f"{name}: not a split of this install (the hidden split needs the "
                            "instructor package `autograder`)")
            continue
        split = splits[name]
        path = paths[name]
        if not path.exists():
            problems.append(f"{name}: {path} is missing")
            continue
        p = split.prefix
        try:
            with h5py.File(path, "r") as f:
                keys = sorted(f.keys())
                want = sorted([f"{p}_x", f"{p}_y", "list_classes"])
                if keys != want:
                    problems.append(f"{name}: {path} has keys {keys}, expected {want}")
                    continue
                fx, fy, fc = f[f"{p}_x"], f[f"{p}_y"], f["list_classes"]
                if fx.dtype != np.uint8 or fx.shape != (split.size, IMAGE_SIZE, IMAGE_SIZE, 3):
                    want_x = (split.size, IMAGE_SIZE, IMAGE_SIZE, 3)
                    problems.append(
                        f"{name}: {p}_x is {fx.dtype} {fx.shape}, expected uint8 {want_x}"
                    )
                    continue
                if fy.dtype != np.int64 or fy.shape != (split.size,):
                    problems.append(
                        f"{name}: {p}_y is {fy.dtype} {fy.shape}, expected int64 ({split.size},)"
                    )
                    continue
                if fc.dtype != np.int64 or not np.array_equal(np.array(fc), CLASSES):
                    problems.append(
                        f"{name}: list_classes is {np.array(fc)!r}, expected int64 [0..5]"
                    )
                    continue
                x_disk, y_disk = np.array(fx), np.array(fy)
        except OSError as e:
            problems.append(f"{name}: cannot read {path}: {e}")
            continue
        y = split_labels(split)
        if not np.array_equal(y, y_disk):
            n_diff = int((y != y_disk).sum())
            problems.append(
                f"{name}: labels differ from seed {split.base_seed} at {n_diff} positions"
            )
        if args.sample:  # evenly spaced images only: a quick check
            idx = np.unique(np.linspace(0, split.size - 1, min(args.sample, split.size)).round())
            idx = idx.astype(int)
        else:
            idx = np.arange(split.size)
        t0 = time.perf_counter()
        x, _ = render_split(split, idx)
        dt = time.perf_counter() - t0
        bad = idx[(x != x_disk[idx]).reshape(len(x), -1).any(axis=1)]
        if len(bad):
            problems.append(
                f"{name}: {len(bad)} of {len(x)} checked images differ from seed"
                f" {split.base_seed} (first: index {bad[0]})"
            )
        if not problems or not problems[-1].startswith(name):
            what = f"{len(x)} of {split.size}" if len(x) < split.size else f"{len(x)}"
            print(
                f"{name}: OK, {what} images identical to seed {split.base_seed}"
                f" ({path}, {dt:.1f} s)"
            )
    if problems:
        print("verify FAILED:")
        for p in problems:
            print("  " + p)
        print("Regenerate with: python -m resnet_kit.handsigns generate")
        return 1
    quick = f" (quick check: {args.sample} images per split)" if args.sample else ""
    checked = ", ".join(args.split or list(splits))
    print(f"verify OK: {checked} match their recorded seeds{quick}")
    return 0


def cmd_preview(args) -> int:
    paths = _paths(args)
    out = args.out or (paths["train"].parent / PREVIEW_PATH.name)
    write_preview(paths["train"], out, columns=args.columns)
    print(f"preview of {paths['train']} -> {out}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="resnet-kit-data",
        description="Generate, verify and preview the kit's procedural hand-signs dataset.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p):
        p.add_argument(
            "--data-dir", type=Path, default=None, help=f"train/test h5 folder (default {DATA_DIR})"
        )
        p.add_argument(
            "--hidden-path",
            type=Path,
            default=None,
            help=f"hidden h5, instructor installs only (default {HIDDEN_PATH})",
        )

    g = sub.add_parser("generate", help="render all splits, write the h5 files and the preview")
    common(g)
    g.add_argument(
        "--preview", type=Path, default=None, help="preview PNG (default DATA_DIR/preview.png)"
    )
    g.add_argument("--no-preview", action="store_true", help="skip the preview PNG")
    g.set_defaults(func=cmd_generate)

    v = sub.add_parser(
        "verify", help="regenerate every split from its seed and compare with the files"
    )
    common(v)
    v.add_argument(
        "--split",
        action="append",
        choices=[*SPLITS, "hidden"],
        default=None,
        help="check only this split (repeatable)",
    )
    v.add_argument(
        "--sample",
        type=int,
        default=0,
        metavar="N",
        help="quick check: regenerate only N evenly spaced images per split (default: all)",
    )
    v.set_defaults(func=cmd_verify)

    p = sub.add_parser("preview", help="draw the preview grid PNG from the train h5")
    common(p)
    p.add_argument(
        "--out", type=Path, default=None, help="output PNG (default DATA_DIR/preview.png)"
    )
    p.add_argument("--columns", type=int, default=10)
    p.set_defaults(func=cmd_preview)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
