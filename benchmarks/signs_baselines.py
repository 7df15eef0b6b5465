"""Baselines on the kit's hand-signs data: softmax regression on raw pixels vs a small CNN.

Trains each model on the train split and reports accuracy on the test split and on the
(instructor-only) hidden split, over several seeds. The point: a linear model on pixels should
do far worse than a CNN (otherwise the class leaks through position, size or colour), and the
small CNN should be good but not perfect.

    .venv/bin/python benchmarks/signs_baselines.py                # 3 seeds, default epochs
    .venv/bin/python benchmarks/signs_baselines.py --seeds 0 --cnn-epochs 5   # quick look
"""

from __future__ import annotations

import argparse
import time

import resnet_kit  # noqa: F401  (first: sets TensorFlow's import-time environment)
from resnet_kit import handsigns as hs
from resnet_kit.data import load_signs_split, normalize_images
from resnet_kit.device import setup


def load():
    x_tr, y_tr, _ = load_signs_split(hs.default_path("train"))
    x_te, y_te, _ = load_signs_split(hs.default_path("test"))
    x_hi, y_hi, _ = load_signs_split(hs.default_path("hidden"))
    y_tr, y_te, y_hi = y_tr.ravel(), y_te.ravel(), y_hi.ravel()
    return [normalize_images(x) for x in (x_tr, x_te, x_hi)], (y_tr, y_te, y_hi)


def logistic(keras):
    return keras.Sequential(
        [
            keras.Input((64, 64, 3)),
            keras.layers.Flatten(),
            keras.layers.Dense(6, activation="softmax"),
        ]
    )


def small_cnn(keras):
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input((64, 64, 3)),
            L.Conv2D(16, 3, padding="same", activation="relu"),
            L.MaxPooling2D(),
            L.Conv2D(32, 3, padding="same", activation="relu"),
            L.MaxPooling2D(),
            L.Conv2D(64, 3, padding="same", activation="relu"),
            L.MaxPooling2D(),
            L.Conv2D(64, 3, padding="same", activation="relu"),
            L.GlobalAveragePooling2D(),
            L.Dense(64, activation="relu"),
            L.Dense(6, activation="softmax"),
        ]
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--logistic-epochs", type=int, default=100)
    ap.add_argument("--cnn-epochs", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args()

    import numpy as np

    (x_tr, x_te, x_hi), (y_tr, y_te, y_hi) = load()
    print(f"train {len(y_tr)}, test {len(y_te)}, hidden {len(y_hi)} images (64x64x3, 6 classes)")
    models = {
        "logistic (Dense(6) on 12288 raw pixels)": (logistic, args.logistic_epochs, 1e-3),
        "small CNN (4 conv 16-32-64-64, GAP, Dense 64)": (small_cnn, args.cnn_epochs, 1e-3),
    }
    results = {}
    for name, (build, epochs, lr) in models.items():
        for seed in args.seeds:
            setup(seed=seed, verbose=False)
            import keras

            model = build(keras)
            model.compile(
                optimizer=keras.optimizers.Adam(lr),
                loss="sparse_categorical_crossentropy",
                metrics=["accuracy"],
            )
            t0 = time.perf_counter()
            hist = model.fit(
                x_tr, y_tr, epochs=epochs, batch_size=args.batch_size, verbose=0, shuffle=True
            )
            dt = time.perf_counter() - t0
            train_acc = hist.history["accuracy"][-1]
            test_acc = model.evaluate(x_te, y_te, verbose=0)[1]
            hidden_acc = model.evaluate(x_hi, y_hi, verbose=0)[1]
            results.setdefault(name, []).append((train_acc, test_acc, hidden_acc))
            print(
                f"{name} | seed {seed} | {epochs} epochs, Adam lr {lr}, batch {args.batch_size} | "
                f"train {train_acc:.3f} test {test_acc:.3f} hidden {hidden_acc:.3f} | {dt:.0f} s"
            )
    print()
    print("summary (mean over seeds " + ", ".join(map(str, args.seeds)) + "):")
    for name, rows in results.items():
        r = np.array(rows)
        per = "; ".join(
            f"seed {s}: test {t:.3f} hidden {h:.3f}" for s, (_, t, h) in zip(args.seeds, rows)
        )
        print(
            f"  {name}: test {r[:, 1].mean():.3f} +- {r[:, 1].std():.3f}, "
            f"hidden {r[:, 2].mean():.3f} +- {r[:, 2].std():.3f}  ({per})"
        )


if __name__ == "__main__":
    main()
