"""The sklearn ``load_digits`` task (8x8 grey images, 10 classes) and small Keras CNNs for it.

Used by the tests (``digits`` / ``digits_cnn_path`` fixtures), the quantization benchmark and demos: a real,
offline, seconds-to-train classification problem. TensorFlow is imported inside the functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: model widths: "small" (a few KB of weights) and "wide" (>= 100 KB as float32)
WIDTHS = ("small", "wide")


@dataclass(frozen=True)
class Digits:
    """75/25 stratified split (random_state=0); images float32 in [0, 1], shape (N, 8, 8, 1); labels int64."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]


def load_digits_split(test_size: float = 0.25, seed: int = 0) -> Digits:
    from sklearn.datasets import load_digits  # noqa: PLC0415
    from sklearn.model_selection import train_test_split  # noqa: PLC0415

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[..., None]
    y = d.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_size, random_state=seed, stratify=y)
    return Digits(x_tr, y_tr, x_te, y_te)


def build_digits_cnn(width: str = "small", *, batch_size: int | None = None):
    """A Keras 3 CNN for 8x8x1 digits with a softmax-free logits output (the input batch is open by default)."""
    from edgeq.convert._tf import import_keras

    keras = import_keras()
    layers = keras.layers
    if width == "small":
        body = [layers.Conv2D(8, 3, padding="same", activation="relu"), layers.MaxPooling2D(),
                layers.Conv2D(16, 3, padding="same", activation="relu"), layers.MaxPooling2D(),
                layers.Flatten(), layers.Dense(32, activation="relu")]
    elif width == "wide":
        body = [layers.Conv2D(32, 3, padding="same", activation="relu"),
                layers.Conv2D(64, 3, padding="same", activation="relu"), layers.MaxPooling2D(),
                layers.Flatten(), layers.Dense(128, activation="relu")]
    else:
        raise ValueError(f"width must be one of {WIDTHS}, not {width!r}")
    return keras.Sequential([keras.Input((8, 8, 1), batch_size=batch_size), *body, layers.Dense(10)],
                            name=f"digits_cnn_{width}")


def train_digits_cnn(path: str | Path, width: str = "small", *, epochs: int = 15, seed: int = 0,
                     data: Digits | None = None) -> float:
    """Train (deterministically, CPU) and save to ``path`` (.keras); returns the float test accuracy."""
    from edgeq.convert._tf import import_keras, quiet

    keras = import_keras()
    data = data or load_digits_split()
    keras.utils.set_random_seed(seed)
    model = build_digits_cnn(width)
    model.compile(optimizer=keras.optimizers.Adam(2e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    with quiet():
        model.fit(data.x_train, data.y_train, epochs=epochs, batch_size=32, verbose=0)
        logits = model.predict(data.x_test, verbose=0)
    model.save(str(path))
    return float(np.mean(logits.argmax(axis=1) == data.y_test))
