"""The kit's own hand-signs dataset: a seeded, procedural renderer in pure NumPy.

Each image shows one right hand holding up 0-5 digits, like the classic SIGNS photos
(64x64x3 uint8, 1080 train / 120 test in the Coursera h5 schema), without any of their pixels.
The poses, one per class as in those photos:

* 0: a ring ("O"), the hand seen from the thumb side: the index finger (the other fingers
  behind it) arcs over and meets the thumb tip, leaving a hole that shows the wall;
* 1: the index finger up, the other fingers curled into a compact fist with the thumb over
  them; 2: a wide V of index and middle, ring and little finger curled under the thumb;
  3: thumb, index and middle out, ring and little finger curled; 4: the four fingers up, the
  thumb folded across the palm; 5: all five spread.

Palm to the camera for 1-5 (the hand turned a little about its long axis: 0.8-1.0 of its full
width; raised digits 1.35 palm widths long, as the photos show them). The hand is large in the
frame (palm 19-24 px wide), its wrist at the bottom edge, so open hands reach near the top and
fists stay lower, as in the photos; it is tilted -28 to 32 degrees (0's ring 0-20 degrees more
and held higher: the hand on its side, more of the forearm showing), and its forearm leaves the
picture slanting towards the thumb's side; half of the scenes are mirrored (a left hand). About
a third of the arms wear a sleeve, whose cuff sometimes shows. Size, tilt, position, mirroring,
skin tone, light, wall, clutter, how much inner detail shows (creases, nails, contact shadows:
none to all) and camera are drawn the same way for every class; only the hand's shape (and
0's extra turn and height) depends on the label.

How an image is made (see :func:`render_image`):

* the hand is a stack of signed-distance-field parts in "hand units" (palm width = 1): a rounded
  palm polygon (an edge-on one for the ring) smoothly joined to the ball of the thumb and the
  forearm; fingers and thumb are chains of capsules (phalanges). Raised fingers have joint
  creases and the free edge of the nail at the tip; curled ones show a round knuckle at the
  top of the palm, the back of the middle phalanx (back-of-hand colour) and a nail where the
  tip tucks in (folded fingers and the thumb over them cast only a faint contact shadow: the
  fist is one rounded ball); the ring's index finger and thumb follow an ellipse round the
  hole, with the web between them closing it and the other fingers curled just behind;
* parts are drawn back to front at 4x resolution (256x256) with smooth coverage, Lambert
  shading from one warm lamp at the upper right (normal estimated from the distance field)
  and a contact shadow that each part casts on the skin under it; palm creases and skin
  texture are added; skin tones span a wide light-to-dark range;
* the hand is box-downsampled to 64x64 and laid on an off-white to light-grey wall, brighter
  towards the lamp, with a soft grey shadow of the hand to the lower left; the exposure is
  bright (highlights clip); then the camera: a slight motion blur, lens blur, sensor noise
  and a JPEG round trip (4:2:0 chroma, 8x8 DCT quantised at quality 60-90).

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
# The thumb is on the hand's right (+u): a right hand seen from its palm side. Per-finger
# arrays and finger indices run index, middle, ring, little (0-3).

KNUCKLE_U = np.array([0.34, 0.11, -0.12, -0.34])
KNUCKLE_V = np.array([0.48, 0.54, 0.50, 0.40])
FINGER_LEN = np.array([0.88, 1.0, 0.93, 0.72])
FINGER_RAD = np.array([0.120, 0.124, 0.116, 0.102])
PHALANX = np.array([0.45, 0.31, 0.24])
# Raised digits look longer in the photos than a palm-width hand model gives (about 2.5 palm
# widths from the wrist to the middle fingertip): the camera sees the palm foreshortened.
RAISED_REACH = 1.35
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
# The ball of the thumb, joined smoothly to the palm: capsule ends and radii.
THENAR = ((0.26, -0.42), (0.38, -0.05), 0.17, 0.12)
# Class 0's hand turned edge-on (thumb side to the camera): palm side to the left (-u), back
# of the hand to the right.
SIDE = np.array(
    [
        [-0.26, -0.54],
        [0.30, -0.55],
        [0.38, -0.12],
        [0.38, 0.26],
        [0.29, 0.47],
        [0.08, 0.58],
        [-0.14, 0.56],
        [-0.26, 0.40],
        [-0.29, 0.02],
    ]
)
SIDE_THENAR = ((-0.10, -0.34), 0.17)  # the ball of the thumb: its lower end (up to the thumb)
THUMB_BASE = np.array([0.34, -0.34])

# The digits raised, per class: (thumb raised, raised finger indices). One pose per class, as
# the SIGNS photos show; class 0 is the ring ("O") and is built by :func:`_ring_parts`.
SIGNS = {
    1: (False, (0,)),  # index; the rest curled into a fist, the thumb over them
    2: (False, (0, 1)),  # a wide V; ring and little finger curled, the thumb over them
    3: (True, (0, 1)),  # thumb, index and middle; ring and little finger curled
    4: (False, (0, 1, 2, 3)),  # four fingers; the thumb folded across the palm
    5: (True, (0, 1, 2, 3)),  # all five, spread
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
    kind: str  # "body" (a polygon and blobs) or "chain" (capsules through the points)
    points: list  # hand units: polygon vertices (body) or joints (chain)
    radii: list  # per joint, hand units (chain)
    relief: float  # how round it looks (hand units): the normal tilts within this of the edge
    shade: float = 1.0  # brightness factor
    ao: float = 0.38  # strength of the contact shadow it casts on skin under it
    # body, raised, folded, curled (class 0), thumb-up, thumb-folded, thumb-o (class 0)
    role: str = ""
    tone: float = 0.0  # 0: palm-side skin colour, 1: back-of-hand colour
    nail: bool = False  # a nail at the last joint (the fingertip)
    ring: bool = False  # class 0's ring (index and thumb): seen from the side, softer creases
    blobs: tuple = ()  # body: capsules (a, b, ra, rb) smoothly joined to the polygon
    rounding: float = 0.028  # body: corner radius (hand units; the polygon is drawn inset)
    joints: tuple | None = None  # chain: indices of the points that are joints (None: all inner)


def _ellipse(centre, a, b, tilt, degrees, split=1):
    """Points on an ellipse (semi-axes a, b, turned by ``tilt`` degrees) at angles ``degrees``
    and, with ``split`` > 1, that many chords between consecutive ones (a smooth bend)."""
    deg = np.asarray(degrees, float)
    t = np.deg2rad(np.interp(np.linspace(0, len(deg) - 1, (len(deg) - 1) * split + 1),
                             np.arange(len(deg)), deg))
    ct, st = np.cos(np.deg2rad(tilt)), np.sin(np.deg2rad(tilt))
    x, y = a * np.cos(t), b * np.sin(t)
    return [centre + np.array([x[k] * ct - y[k] * st, x[k] * st + y[k] * ct])
            for k in range(len(t))]


def _ring_parts(rng, radii, finger_scale, thumb_r):
    """Class 0: the hand seen from the thumb side, its fingertips meeting the thumb tip in an "O".

    The hand is edge-on (palm side to the left, back to the right, knuckles at the top), about
    two thirds as wide as a palm seen from the front. In front of its palm side the index
    finger arcs up, over and down to meet the thumb, which comes up from the ball of the thumb
    round the bottom; the web between them closes the ring on the right. The hole (its size,
    shape, tilt and where the tips meet vary) shows the wall. The middle, ring and little
    fingers curl the same way just behind the index, showing as a stack of knuckles along the
    top and back of the ring. No digit is raised.
    """
    turn = rng.uniform(1.0, 1.25)  # how far the back of the hand turns towards the camera
    shift = np.array([0.1, rng.normal(0, 0.02)])  # the ring reaches left: move it all right
    body = SIDE * np.array([turn, 1.0]) + shift
    # The hole: an ellipse in front of the palm side, its right edge at the palm's edge.
    rh = rng.uniform(0.12, 0.24) * finger_scale ** 0.5  # a small hole, as in the photos
    ecc = rng.uniform(-0.12, 0.18)
    tilt = rng.uniform(-30, 30)
    ha, hb = rh * (1 + ecc), rh * (1 - ecc)
    half_w = np.hypot(ha * np.cos(np.deg2rad(tilt)), hb * np.sin(np.deg2rad(tilt)))
    hole = shift + np.array(
        [-0.26 * turn - half_w - rng.uniform(0.0, 0.04), rng.uniform(0.38, 0.52)]
    )
    ri = radii[0]
    A, B = ha + 1.08 * ri, hb + 1.08 * ri  # the index's centre line
    t0 = rng.uniform(5, 30)  # the index knuckle, at the top of the palm's edge
    t_tip = rng.uniform(195, 240)  # where the tips meet
    # Index: knuckle, middle and end joints, tip; each phalanx a chord of the ellipse.
    ang = np.r_[t0, np.interp([0.47, 0.8], [0, 1], [t0, t_tip]) + rng.normal(0, 4, 2), t_tip]
    pts = _ellipse(hole, A, B, tilt, ang)
    # Straight phalanges bent at the joints, which stand out a little: a finger, not a hoop.
    pts[1:3] = [hole + (p - hole) * rng.uniform(1.06, 1.12) for p in pts[1:3]]
    index = _Part("chain", pts, [ri * 1.1, ri * 1.04, ri * 0.98, ri * 0.92], relief=ri * 1.2,
                  ao=0.16, role="curled", tone=0.45, nail=True, ring=True)
    # Middle, ring and little finger: the same curl, each a little further back (up and to
    # the right) and wider; the index hides their tips.
    curled = []
    for f in (3, 2, 1):
        r = radii[f] * 1.08
        off = np.array([0.045, 0.03]) * f * rng.uniform(0.8, 1.15)
        grow = 1 + 0.03 * f
        a_f = np.r_[t0 + 6 * f, np.interp([0.4, 0.62], [0, 1], [t0, t_tip - 15 * f])]
        pts_f = _ellipse(hole + off, A * grow, B * grow, tilt, a_f, split=2)
        rad_f = list(np.interp(np.arange(5) / 2, np.arange(3), [r * 1.1, r * 1.05, r * 0.95]))
        curled.append(_Part("chain", pts_f, rad_f, relief=r * 1.2, joints=(2,),
                            shade=1.0 - 0.03 * f, ao=0.12, role="curled", tone=0.55))
    # Thumb: from the ball of the thumb up round the bottom of the ring to the index tip.
    tr = thumb_r * 0.95
    At, Bt = ha + 1.12 * tr, hb + 1.12 * tr
    t_base = rng.uniform(318, 335)
    t_end = t_tip + rng.uniform(8, 16)
    t_mid = t_base - 0.5 * (t_base - t_end) + rng.normal(0, 4)
    tpts = _ellipse(hole, At, Bt, tilt, [t_base, t_mid, t_end], split=2)
    trad = list(np.interp(np.arange(5) / 2, np.arange(3), [tr * 1.15, tr * 1.04, tr * 0.95]))
    thumb = _Part("chain", tpts, trad, relief=tr * 1.2, ao=0.1, role="thumb-o", tone=0.4,
                  nail=True, ring=True, joints=(2,))
    # The web between thumb and index closes the ring on the right; it belongs to the body.
    web = _ellipse(hole, ha + 0.7 * ri, hb + 0.7 * ri, tilt, [t_base - 360 + 10, t0 - 5])
    # The ball of the thumb runs up the palm's edge into the thumb: one smooth contour.
    blobs = ((np.array(SIDE_THENAR[0]) + shift, tpts[0], SIDE_THENAR[1], tr * 1.15),
             (web[0], web[1], 0.7 * ri, 0.7 * ri))
    # The back of the hand seen from the side is a rounded dome, not a box: the polygon is
    # drawn inset by a large corner radius.
    centre = body.mean(axis=0)
    inset = centre + (body - centre) * 0.78
    body = _Part("body", [inset], [], relief=0.26, ao=0.2, role="body", tone=0.5, blobs=blobs,
                 rounding=0.11)
    return [*curled, body, index, thumb], []


def _hand_parts(label: int, rng: np.random.Generator):
    """The parts of a hand showing ``label``, back to front, plus the palm crease polylines.

    Only the hand's shape depends on the label; where the hand is, its size, tilt, forearm,
    skin tone and light are drawn in :func:`render_image` for every class alike.
    """
    finger_scale = rng.uniform(0.88, 1.10)
    width_scale = rng.uniform(0.9, 1.1)
    lengths = FINGER_LEN * finger_scale * rng.uniform(0.95, 1.05, 4)
    radii = FINGER_RAD * width_scale * rng.uniform(0.95, 1.05, 4)
    knuckle_v = KNUCKLE_V + rng.normal(0, 0.015, 4)
    thumb_scale = rng.uniform(0.9, 1.1)
    thumb_r = 0.13 * width_scale
    if label == 0:
        return _ring_parts(rng, radii, finger_scale, thumb_r)

    thumb_up, raised = SIGNS[label]
    # Fan angles (degrees, + = towards the little finger) of the raised fingers.
    if label == 1:
        fan = np.r_[rng.uniform(-8, 4), 0, 0, 0]
    elif label == 2:  # a wide V
        fan = np.r_[-rng.uniform(14, 26), rng.uniform(12, 22), 0, 0]
    elif label == 3:  # index and middle spread wide (the thumb too, below)
        fan = np.r_[-rng.uniform(14, 28), rng.uniform(8, 20), 0, 0]
    else:  # spread fingers, with clear gaps between them
        spread = rng.uniform(8, 15) if label == 4 else rng.uniform(16, 26)
        fan = np.array([-1.2, -0.3, 0.6, 1.5]) * spread + rng.normal(0, 2.0, 4)

    palm = _Part(
        "body", [PALM], [], relief=0.30, ao=0.0, role="body", tone=0.0, blobs=(THENAR,)
    )
    folded, up = [], []
    for f in (3, 2, 1, 0):  # little finger at the back
        base = np.array([KNUCKLE_U[f], knuckle_v[f]])
        L, r = lengths[f], radii[f]
        if f in raised:
            fs = rng.uniform(0.88, 1.0, 3)  # foreshortening from a slight bend
            pts = _chain(base, 90 + fan[f], RAISED_REACH * L * PHALANX * fs, np.r_[0.0, rng.normal(0, 4, 2)])
            up.append(_Part("chain", pts, [r, r * 1.0, r * 0.93, r * 0.86], relief=r,
                            role="raised", nail=True))
        else:
            # Curled into the palm: the first phalanx points at the camera (its knuckle a
            # round bump at the top of the palm), the middle one lies down over the palm with
            # its back to the camera, the fingertip is tucked in with the nail showing.
            up_len = rng.uniform(0.04, 0.09) * L
            down1 = rng.uniform(0.24, 0.30) * L
            down2 = rng.uniform(0.06, 0.10) * L
            pts = _chain(base, 90 + rng.normal(0, 4), [up_len, down1, down2],
                         [0, 180 + rng.normal(0, 6), rng.normal(0, 10)])
            folded.append(
                _Part("chain", pts, [r * 1.2, r * 1.36, r * 1.2, r * 1.05], relief=r * 1.3,
                      shade=0.97, ao=0.3, role="folded", tone=0.55, nail=True)
            )

    tb = THUMB_BASE + rng.normal(0, 0.02, 2)
    tl = np.array([0.32, 0.26, 0.21]) * thumb_scale
    if thumb_up:
        # A raised thumb leaves the palm's side at about mid-height in the photos (its base
        # joint), not at the wrist: the first bone hides in the ball of the thumb.
        tb = tb + np.array([0.05, 0.15])
        a0 = rng.uniform(10, 40) if label == 5 else rng.uniform(5, 35)
        # (A raised thumb stands well clear of the palm: in the photos it is as long as a finger.)
        pts = _chain(tb, a0, 1.25 * RAISED_REACH * tl * np.array([1, rng.uniform(0.85, 1), rng.uniform(0.85, 1)]),
                     [0, rng.uniform(0, 18), rng.uniform(-5, 15)])
        thumb = _Part("chain", pts, [thumb_r * 1.4, thumb_r * 1.15, thumb_r * 1.02,
                                     thumb_r * 0.9], relief=thumb_r, role="thumb-up")
    elif label in (1, 2):
        # Over the curled fingers, holding them down: the fist is a compact ball.
        reach = 0.0 if label == 1 else 14.0
        pts = _chain(tb, rng.uniform(92, 102), tl * np.array([1.05, 0.95, 0.85]),
                     [0, rng.uniform(24, 50) + reach * 0.5, rng.uniform(5, 24) + reach * 0.3])
        # Its first bone lies in the ball of the thumb (part of the palm, one smooth contour);
        # the two phalanges cross the curled fingers.
        palm.blobs = (THENAR, (np.array(THENAR[1]), pts[1], THENAR[3], thumb_r * 1.25))
        thumb = _Part("chain", pts[1:], [thumb_r * 1.25, thumb_r * 1.12, thumb_r * 1.0],
                      relief=thumb_r * 1.9, ao=0.12, role="thumb-folded", tone=0.45, nail=True)
    else:
        # Folded across the palm.
        pts = _chain(tb, rng.uniform(122, 140), np.array([0.28, 0.22, 0.17]) * thumb_scale,
                     [0, rng.uniform(15, 30), rng.uniform(0, 15)])
        thumb = _Part("chain", pts, [thumb_r * 1.3, thumb_r * 1.12, thumb_r * 1.05,
                                     thumb_r * 0.95], relief=thumb_r * 1.6, shade=0.97,
                      ao=0.2, role="thumb-folded", tone=0.15, nail=True)

    parts = [palm, *folded]
    parts += [*up, thumb] if thumb_up else [thumb, *up]

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


# Sleeve colours (cloth), scaled a little per image.
SLEEVES = np.array(
    [
        [0.14, 0.14, 0.16],
        [0.34, 0.36, 0.40],
        [0.18, 0.23, 0.38],
        [0.50, 0.16, 0.16],
        [0.72, 0.72, 0.70],
        [0.30, 0.34, 0.24],
        [0.85, 0.85, 0.84],
    ]
)

# JPEG: the orthonormal 8x8 DCT and the baseline quantisation tables (ITU-T T.81, Annex K).
_DCT = np.array(
    [[np.sqrt((1 if k == 0 else 2) / 8) * np.cos((2 * n + 1) * k * np.pi / 16) for n in range(8)]
     for k in range(8)]
)
_Q_LUMA = np.array(
    [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69,
     56, 14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81,
     104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99],
    float,
).reshape(8, 8)
_Q_CHROMA = np.full((8, 8), 99.0)
_Q_CHROMA[:4, :4] = [[17, 18, 24, 47], [18, 21, 26, 66], [24, 26, 56, 99], [47, 66, 99, 99]]


def _jpeg(img, quality):
    """A JPEG round trip of an (H, W, 3) image in 0..1: YCbCr, 4:2:0 chroma, 8x8 DCT blocks."""
    x = np.clip(img, 0.0, 1.0) * 255.0
    y = x @ np.array([0.299, 0.587, 0.114])
    cb = x @ np.array([-0.168736, -0.331264, 0.5])
    cr = x @ np.array([0.5, -0.418688, -0.081312])
    q = 5000.0 / quality if quality < 50 else 200.0 - 2.0 * quality

    def code(ch, table, offset):
        tab = np.clip(np.floor((table * q + 50.0) / 100.0), 1, 255)
        h, w = ch.shape
        b = (ch - offset).reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3)
        c = np.round((_DCT @ b @ _DCT.T) / tab) * tab
        return (_DCT.T @ c @ _DCT).transpose(0, 2, 1, 3).reshape(h, w) + offset

    def sub(ch):  # 2x2 chroma subsampling, then back up (smoothly, as decoders do)
        h, w = ch.shape
        small = code(ch.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3)), _Q_CHROMA, 0.0)
        return _blur(np.repeat(np.repeat(small, 2, 0), 2, 1), 0.6)

    y = code(y, _Q_LUMA, 128.0)
    cb, cr = sub(cb), sub(cr)
    rgb = np.stack([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb], -1)
    return rgb / 255.0


def _shift(img, dx, dy):
    """``img`` (H, W, C) moved by (dx, dy) pixels, |d| < 3: bilinear, edges repeated."""
    p = 4
    a = np.pad(img, [(p, p), (p, p), (0, 0)], mode="edge")
    ix, iy = int(np.floor(dx)), int(np.floor(dy))
    fx, fy = dx - ix, dy - iy
    h, w = img.shape[:2]

    def win(oy, ox):
        return a[p - oy : p - oy + h, p - ox : p - ox + w]

    return (1 - fy) * ((1 - fx) * win(iy, ix) + fx * win(iy, ix + 1)) + fy * (
        (1 - fx) * win(iy + 1, ix) + fx * win(iy + 1, ix + 1)
    )


def _motion_blur(img, length, angle):
    """Average of the image moved along a short line: a slight hand or camera shake."""
    if length < 0.2:
        return img
    steps = np.linspace(-0.5, 0.5, 5) * length
    return sum(_shift(img, t * np.cos(angle), t * np.sin(angle)) for t in steps) / len(steps)


def render_image(label: int, rng: np.random.Generator) -> np.ndarray:
    """Render one 64x64x3 uint8 image of a hand showing ``label`` (0-5) fingers."""
    parts, creases = _hand_parts(int(label), rng)
    palm_col, back_col = _skin_colour(rng)

    # Pose, as in the real photos: a large hand, roughly upright (leaning either way), its
    # wrist at the bottom edge (so open hands reach higher than fists), across the frame near
    # its middle; where exactly, its size and its tilt are drawn alike for every class.
    # Class 0's ring is the hand turned on its side (knuckles towards the upper left, the arm
    # coming in from the lower right or, mirrored, the other way round) as in the real "0"s.
    scale = rng.uniform(19.0, 24.0) * SUPERSAMPLE  # palm width
    tilt = rng.uniform(-28, 32)
    if label == 0:
        tilt += rng.uniform(0, 20)
    theta = np.deg2rad(tilt)
    # The hand turned a little about its long axis (towards the thumb or away): narrower
    # across, the digits keep their width. Class 0 is already seen from the side.
    yaw = 1.0 if label == 0 else rng.uniform(0.8, 1.0)
    bend = np.deg2rad(rng.uniform(-8, 30))  # the forearm leaves towards the thumb's side
    # Seen from the camera the hand is longer than its palm is wide (about 2.5 palm widths
    # from the wrist to the middle fingertip in the photos): stretched along its length; the
    # digits keep their width.
    stretch = rng.uniform(1.0, 1.1)
    c, s = np.cos(theta), np.sin(theta)
    hand_pts = np.concatenate([np.asarray(p.points[0] if p.kind == "body" else p.points, float)
                               for p in parts])
    lo, hi = hand_pts.min(axis=0), hand_pts.max(axis=0)
    mid = np.array([(lo[0] + hi[0]) / 2, (max(hi[1], 0.6) - 0.5) / 2])  # hand units
    # Across: the hand's middle near the frame's; up and down: the wrist at the bottom edge,
    # so an open hand reaches higher than a fist or the ring, as in the photos.
    # (The ring is held higher: the hand on its side, more of the forearm in the picture.)
    wrist_y = rng.uniform(0.72, 0.90) if label == 0 else rng.uniform(0.92, 1.02)
    target = np.array([rng.uniform(0.40, 0.60), wrist_y]) * HI
    wrist_v = -0.45
    cx = target[0] - scale * (yaw * mid[0] * c - stretch * mid[1] * s)
    cy = target[1] + scale * (yaw * 0.02 * s + stretch * wrist_v * c)

    def to_px(p):
        p = np.asarray(p, float)
        px = cx + scale * (yaw * p[..., 0] * c - stretch * p[..., 1] * s)
        py = cy - scale * (yaw * p[..., 0] * s + stretch * p[..., 1] * c)
        return np.stack([px, py], -1)

    # The forearm, in hand units: from the wrist down (a slightly bent wrist), off the frame.
    fdir = np.array([np.sin(bend), -np.cos(bend)])
    wrist = np.array([0.02, -0.45])
    elbow = wrist + 5.0 * fdir
    mirror = rng.random() < 0.5  # a left hand (or a mirrored camera): the scene flipped
    # Some people wear a sleeve that reaches into the picture.
    has_sleeve = rng.random() < 0.35
    sleeve_at = rng.uniform(1.25, 2.3)
    sleeve_col = SLEEVES[rng.integers(len(SLEEVES))] * rng.uniform(0.85, 1.1)

    # Light: one warm indoor lamp from the upper right and in front (image x right, y down,
    # z to the camera); the hand's shadow falls on the wall to the lower left.
    az = np.deg2rad(rng.uniform(-80, -20))
    el = np.deg2rad(rng.uniform(40, 70))
    light = np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
    ambient = rng.uniform(0.40, 0.75)  # from one lamp to a bright, diffusely lit room
    diffuse = rng.uniform(0.30, 0.70)
    exposure = rng.uniform(1.02, 1.20)
    warm = np.array([1.0, rng.uniform(0.965, 0.99), rng.uniform(0.91, 0.95)])

    colour = np.zeros((HI, HI, 3), np.float64)
    alpha = np.zeros((HI, HI), np.float64)
    yy, xx = np.mgrid[0:HI, 0:HI].astype(np.float64) + 0.5
    ao_width = rng.uniform(0.035, 0.06) * scale

    rim_dark = rng.uniform(0.0, 1.0)  # how much the edges darken (a soft light: hardly)
    # How much inner detail the camera resolves (creases, nails, the shadows between digits):
    # from none (soft light, a far or blurred hand) to all. A network must count the digits
    # by their shape, not by lines inside the hand that photos show differently.
    detail = rng.uniform(0.0, 1.0)
    edge = rng.uniform(0.6, 0.95)  # how far the normal turns away at an outline

    def shade(d, relief, gain, rim=0.14):
        """Lambert shading with a normal estimated from the distance field ``d``."""
        gy, gx = np.gradient(d)
        gn = np.sqrt(gx * gx + gy * gy) + 1e-6
        # 1 at the edge (up to ``edge``: skin scatters light, edges hardly go dark), 0 inside
        tt = edge * (1.0 - np.clip(-d / (relief * scale), 0.0, 1.0))
        nz = np.sqrt(np.clip(1.0 - tt * tt, 0.0, 1.0))
        lam = (gx / gn * tt) * light[0] + (gy / gn * tt) * light[1] + nz * light[2]
        sh = ambient + diffuse * np.clip(lam, 0.0, None)
        return sh * (1.0 - rim * rim_dark * tt**4) * gain  # rim darkening where the surface turns away

    def composite(y0, y1, x0, x1, d, col, ao):
        a = np.clip(0.5 - d, 0.0, 1.0)
        if ao > 0:  # contact shadow cast on the skin already drawn
            occ = 1.0 - ao * np.exp(-np.maximum(d, 0.0) / ao_width)
            colour[y0:y1, x0:x1] *= occ[..., None]
        colour[y0:y1, x0:x1] = col * a[..., None] + colour[y0:y1, x0:x1] * (1 - a[..., None])
        alpha[y0:y1, x0:x1] = a + alpha[y0:y1, x0:x1] * (1 - a)

    for part in parts:
        tone_col = palm_col * (1 - part.tone) + back_col * part.tone
        if part.kind == "body":
            V = to_px(part.points[0])
            wa, wb = to_px(wrist), to_px(elbow)
            box = np.concatenate([V, [wa, wb]])
            x0 = max(0, int(box[:, 0].min() - 0.6 * scale))
            y0 = max(0, int(box[:, 1].min() - 0.6 * scale))
            x1 = min(HI, int(box[:, 0].max() + 0.6 * scale) + 1)
            y1 = min(HI, int(box[:, 1].max() + 0.6 * scale) + 1)
            X, Y = xx[y0:y1, x0:x1], yy[y0:y1, x0:x1]
            # Shrink the polygon's distance by the rounding radius: rounded corners.
            d = _polygon(X, Y, V) - part.rounding * scale
            for a_, b_, ra, rb in part.blobs:
                blob = _capsule(X, Y, to_px(a_), to_px(b_), ra * scale, rb * scale)
                d = _smin(d, blob, 0.15 * scale)
            arm = (0.25, 0.34) if label == 0 else (0.33, 0.46)  # seen from the side: slimmer
            d = _smin(d, _capsule(X, Y, wa, wb, arm[0] * scale, arm[1] * scale), 0.22 * scale)
            # The forearm is the back-of-hand colour, the hand its own tone.
            v = (-(X - cx) * s - (Y - cy) * c) / (scale * stretch)  # hand-frame height of each pixel
            t = np.clip((-0.5 - v) / 0.5, 0, 1)[..., None]
            base = tone_col[None, None] * (1 - t) + back_col[None, None] * t * 0.97
            composite(y0, y1, x0, x1, d, base * shade(d, part.relief, 1.0)[..., None], part.ao * detail)
            if creases:  # palm creases, on the palm only (before the fingers cover it)
                inside = np.clip(-d / (0.05 * scale), 0, 1) * (v > -0.55)
                dark = np.zeros_like(X)
                for line in creases:
                    Pl = to_px(line)
                    dl = np.full_like(X, 1e9)
                    for k in range(len(Pl) - 1):
                        dl = np.minimum(dl, _capsule(X, Y, Pl[k], Pl[k + 1], 0.0, 0.0))
                    dark = np.maximum(dark, np.exp(-((dl / (0.013 * scale)) ** 2)))
                colour[y0:y1, x0:x1] *= (1 - rng.uniform(0.06, 0.14) * detail * dark * inside)[..., None]
            if has_sleeve:  # a flat-cut cuff around the forearm, from sleeve_at on
                ux, uy = to_px(fdir) - to_px([0.0, 0.0])
                ux, uy = np.array([ux, uy]) / np.hypot(ux, uy)
                along = (X - wa[0]) * ux + (Y - wa[1]) * uy
                across = np.abs(-(X - wa[0]) * uy + (Y - wa[1]) * ux)
                rad = (arm[0] + 0.23 + 0.03 * along / scale) * scale
                ds = np.maximum(across - rad, sleeve_at * scale - along)
                fold = 1.0 - 0.35 * (across / rad) ** 2
                cloth = sleeve_col * (ambient + diffuse * light[2]) * fold[..., None]
                composite(y0, y1, x0, x1, ds, cloth, 0.5)
            continue

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
        joint = (0.02 if part.role == "raised" else 0.05) * scale
        for k in range(1, len(P) - 1):
            d = _smin(d, _capsule(X, Y, P[k], P[k + 1], R[k], R[k + 1]), joint)
        base = np.broadcast_to(tone_col, X.shape + (3,))
        # Joint creases across the finger: darker lines at the inner joints.
        crease = np.ones_like(X)
        part_crease = (0.24 if part.role in ("raised", "thumb-up") else 0.1) * detail
        for k in range(1, len(P) - 1) if part.joints is None else part.joints:
            dj = np.sqrt((X - P[k][0]) ** 2 + (Y - P[k][1]) ** 2)
            crease *= 1 - part_crease * np.exp(-((dj / (0.3 * R[k])) ** 2))
        base = base * crease[..., None]
        if part.nail:
            tip, prev = P[-1], P[-2]
            u = (tip - prev) / (np.linalg.norm(tip - prev) + 1e-9)
            if part.role == "raised" or part.ring:  # palm side or side: only the nail's edge
                na, nb, nr, mix = tip - u * 0.25 * R[-1], tip, 0.75 * R[-1], 0.22
            else:  # back of the finger to the camera: the whole nail
                na, nb, nr, mix = tip - u * 1.2 * R[-1], tip - u * 0.3 * R[-1], 0.58 * R[-1], 0.3
            dn = _capsule(X, Y, na, nb, nr, nr)
            an = np.clip(0.5 - dn / 2.0, 0.0, 1.0)[..., None] * mix * detail
            nail_col = np.array([0.97, 0.86, 0.82])
            base = base * (1 - an) + nail_col * an
        col = base * shade(d, part.relief, part.shade, 0.08)[..., None]
        composite(y0, y1, x0, x1, d, col, part.ao * detail)

    # Skin texture: low-frequency blotches and fine grain.
    tex = rng.uniform(0.03, 0.09) * _smooth_noise(rng, (HI, HI), 8)
    tex = 1 + tex + rng.uniform(0.02, 0.05) * _smooth_noise(rng, (HI, HI), 40)
    # Blood under the skin: redder and darker patches (knuckles, fingertips, creases).
    red = rng.uniform(0.0, 0.08) * np.clip(_smooth_noise(rng, (HI, HI), 14), 0, 1)
    colour *= tex[..., None] * (1 - red[..., None] * np.array([0.2, 1.0, 1.0]))

    # Down to 64x64 (box filter; colour is premultiplied by coverage).
    f = SUPERSAMPLE
    colour = colour.reshape(IMAGE_SIZE, f, IMAGE_SIZE, f, 3).mean(axis=(1, 3))
    alpha = alpha.reshape(IMAGE_SIZE, f, IMAGE_SIZE, f).mean(axis=(1, 3))

    # The wall: off-white to light grey, brighter towards the lamp, a little texture.
    n = IMAGE_SIZE
    wall = rng.uniform(0.68, 0.95) * np.array(
        [1.0, 1.0 + rng.normal(0, 0.012), 1.0 + rng.normal(0.015, 0.025)]
    )
    gyy, gxx = np.mgrid[0:n, 0:n] / n - 0.5
    ramp = (gxx * np.cos(az) + gyy * np.sin(az)) * rng.uniform(0.05, 0.25)
    ramp = ramp - rng.uniform(0.0, 0.15) * (gxx * gxx + gyy * gyy)
    blotch = rng.uniform(0.01, 0.03) * _smooth_noise(rng, (n, n), 5)
    bg = wall[None, None] * (1 + ramp[..., None] + blotch[..., None])
    bg = bg * (1 + 0.01 * _smooth_noise(rng, (n, n), 24)[..., None])
    # Now and then something else on the wall or at its edge (a door frame, a shelf, a poster,
    # a table edge): soft-edged boxes of other tones, never where the class could leak from.
    for _ in range(rng.choice(4, p=[0.85, 0.09, 0.04, 0.02])):
        bx0, bx1 = np.sort(rng.uniform(-0.2, 1.2, 2)) * n
        by0, by1 = np.sort(rng.uniform(-0.2, 1.2, 2)) * n
        soft = rng.uniform(0.3, 1.5)
        inside = (np.clip((gxx + 0.5) * n - bx0, 0, soft) * np.clip(bx1 - (gxx + 0.5) * n, 0, soft)
                  * np.clip((gyy + 0.5) * n - by0, 0, soft)
                  * np.clip(by1 - (gyy + 0.5) * n, 0, soft)) / soft**4
        tone = rng.uniform(0.25, 1.0) * (1 + rng.normal(0, 0.08, 3))
        bg = bg * (1 - inside[..., None]) + tone * inside[..., None]
    # Soft grey shadow of the hand on the wall, away from the lamp: to the lower left.
    dist = rng.uniform(2.5, 7.0)
    planar = np.hypot(light[0], light[1]) + 1e-9
    ix = int(round(-light[0] / planar * dist))
    iy = int(round(-light[1] / planar * dist))
    pad = 8
    A = np.pad(alpha, pad, mode="edge")
    shadow = A[pad - iy : pad - iy + n, pad - ix : pad - ix + n]
    shadow = _blur(shadow, rng.uniform(1.5, 3.2))
    bg = bg * (1 - rng.uniform(0.2, 0.38) * shadow)[..., None]

    img = colour + bg * (1 - alpha[..., None])
    if rng.random() < 0.3:  # a soft shadow across the scene (a window frame, a person)
        ang = rng.uniform(0, 2 * np.pi)
        band = (gxx * np.cos(ang) + gyy * np.sin(ang)) * n - rng.uniform(-20, 20)
        img = img * (1 - rng.uniform(0.1, 0.35) / (1 + np.exp(-band / rng.uniform(1, 5))))[..., None]
    # Warm light, a little white-balance jitter, bright exposure (highlights clip).
    img = img * warm * exposure * (1 + rng.normal(0, 0.008, 3))

    if mirror:
        img = img[:, ::-1]
    # Camera processing: contrast (a gamma curve) and colour saturation vary.
    img = np.clip(img, 0.0, None) ** rng.uniform(0.8, 1.25)
    grey = img.mean(axis=-1, keepdims=True)
    img = grey + (img - grey) * rng.uniform(0.65, 1.3)
    # Camera: a slight shake, lens softness, sensor noise, then JPEG.
    # (The real photos are sharper than blur alone leaves them: phone cameras sharpen.)
    img = _motion_blur(img, rng.uniform(0.0, 0.9), rng.uniform(0, np.pi))
    img = _blur(img, rng.uniform(0.0, 0.45))
    img = img + rng.uniform(0.0, 0.8) * (img - _blur(img, 1.0))
    noise = rng.uniform(0.004, 0.012)
    img = img + rng.normal(0, noise, img.shape)
    img = img + rng.normal(0, noise * 0.6, img.shape[:2])[..., None]
    img = _jpeg(img, rng.uniform(60, 90))
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
