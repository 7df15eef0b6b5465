"""A quick proxy for `resnet50_training.py transfer`: does the renderer teach a small CNN to read
real hands?

Renders a fresh training set with the working tree's renderer (or reads an h5 file), trains the
small CNN of `signs_baselines.py` for a few epochs, and scores every Coursera-schema .h5 file in
--eval-dir (e.g. real SIGNS photos, which the kit never ships): accuracy, per class, confusion
matrix, in a minute or two a seed. A diagnostic, not the measure: over issue 18 it disagreed
in direction with the ResNet-50 about as often as not (data/transfer-log.md), so judge a
renderer with `resnet50_training.py transfer --epochs 10 --seeds 0 1 2` (4-6 min a seed on the
kit's 2-core machine). The small CNN needs 40-60 epochs (--epochs) to fit rendered images.

    python benchmarks/signs_transfer_proxy.py --eval-dir ../shared/real-signs --per-class 100
    python benchmarks/signs_transfer_proxy.py --eval-dir ../shared/real-signs --h5 data/signs/train_signs.h5
    python benchmarks/signs_transfer_proxy.py ... --logistic   # softmax regression too
    python benchmarks/signs_transfer_proxy.py ... --shape-only # outlines only (skin masks)

Rendered images use the seeds of the train split (``image_rng("train", i)``) with a balanced
label order, so two renderers are compared on the same random streams; they are cached in
--cache (an .npz keyed by nothing but the file name you give, so name it per change).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import resnet_kit  # noqa: F401  (first: sets TensorFlow's import-time environment)
from resnet_kit import handsigns as hs
from resnet_kit.data import load_signs_split, normalize_images


def rendered(per_class: int, cache: Path | None):
    if cache is not None and cache.exists():
        z = np.load(cache)
        return z["x"], z["y"]
    y = np.tile(hs.CLASSES, per_class)
    x = np.empty((len(y), hs.IMAGE_SIZE, hs.IMAGE_SIZE, 3), np.uint8)
    t0 = time.perf_counter()
    for i, label in enumerate(y):
        x[i] = hs.render_image(int(label), hs.image_rng("train", i))
    print(f"rendered {len(y)} images in {time.perf_counter() - t0:.0f} s", flush=True)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(cache, x=x, y=y)
    return x, y


def skin_masks(x: np.ndarray) -> np.ndarray:
    """Where the skin is (reddish and not dark), as a 0/1 image in three channels: what is left
    of a picture when only the hand's outline counts. Misses very dark skin (such images are
    left out of training in --shape-only)."""
    f = x.astype(np.int32)
    skin = ((f[..., 0] - f[..., 2]) > 30) & (f[..., 0] > 90)
    return np.repeat(skin[..., None], 3, axis=-1).astype(np.float32)


def score(model, files, shape_only=False):
    out = {}
    for path in files:
        x, y, _ = load_signs_split(path)
        x = skin_masks(x) if shape_only else normalize_images(x)
        p = np.argmax(model.predict(x, batch_size=64, verbose=0), axis=1)
        t = y.ravel()
        conf = np.zeros((6, 6), int)
        np.add.at(conf, (t, p), 1)
        out[path] = (float(np.mean(p == t)), conf.diagonal() / conf.sum(axis=1), conf)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eval-dir", required=True)
    ap.add_argument("--h5", type=Path, default=None, help="train on this file instead of rendering")
    ap.add_argument("--per-class", type=int, default=100)
    ap.add_argument("--cache", type=Path, default=None, help=".npz cache of the rendered images")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--logistic", action="store_true", help="also softmax regression (100 epochs)")
    ap.add_argument("--render-only", action="store_true")
    ap.add_argument("--shape-only", action="store_true",
                    help="train and score on skin masks: does the hands' outline alone transfer?")
    args = ap.parse_args()

    files = sorted(str(p) for p in Path(args.eval_dir).expanduser().glob("*.h5"))
    if not files and not args.render_only:  # the kit ships no real photos: say so up front
        raise SystemExit(f"{args.eval_dir}: no .h5 files of real photos (Coursera schema); "
                         "nothing to measure")
    if args.h5 is not None:
        x, y, _ = load_signs_split(args.h5)
        y = y.ravel()
    else:
        x, y = rendered(args.per_class, args.cache)
    if args.render_only:
        return
    from resnet_kit.device import setup

    import signs_baselines as sb  # the same models as the data card's baselines

    models = [("small CNN", sb.small_cnn, args.epochs)]
    if args.logistic:
        models.append(("softmax regression", sb.logistic, 100))
    if args.shape_only:
        xn = skin_masks(x)
        keep = xn[..., 0].mean(axis=(1, 2)) > 0.08  # the mask found the hand
        xn, y = xn[keep], y[keep]
        print(f"shape only: {keep.sum()} of {keep.size} rendered images have a skin mask")
    else:
        xn = normalize_images(x)
    for name, build, epochs in models:
        for seed in args.seeds:
            setup(seed=seed, verbose=False)
            import keras

            model = build(keras)
            model.compile(optimizer=keras.optimizers.Adam(1e-3),
                          loss="sparse_categorical_crossentropy", metrics=["accuracy"])
            t0 = time.perf_counter()
            h = model.fit(xn, y, epochs=epochs, batch_size=32, verbose=0, shuffle=True)
            dt = time.perf_counter() - t0
            for path, (acc, per, conf) in score(model, files, args.shape_only).items():
                print(f"{name} seed {seed} {epochs} ep on {len(y)} images (train acc "
                      f"{h.history['accuracy'][-1]:.3f}, {dt:.0f} s) | {Path(path).name}: "
                      f"{acc:.3f} | per class " + " ".join(f"{a:.2f}" for a in per), flush=True)
                for c, row in enumerate(conf):
                    print(f"    {c}: {row.tolist()}")


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
