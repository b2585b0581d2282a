"""An MCUNet-like int8 network built with the TF converter, for the memory benchmarks (benchmarks/compiler.py).

    python benchmarks/mcunet_like.py OUT.tflite [--size 80]

Shaped after MCUNet-VWW (mit-han-lab/tinyengine assets/vww.tflite, 80x80x3): a stride-2 3x3 stem, MobileNetV2
inverted residual blocks (1x1 expansion x3-x6, 3x3 / 5x5 / 7x7 depthwise, 1x1 projection, residual ADDs), a global
average pool and a 2-class FULLY_CONNECTED. Every stride-2 layer gets an explicit symmetric PAD of k // 2 as a
PyTorch export has (TF's SAME would pad (k // 2 - 1, k // 2) on even sizes, so the converter keeps the PAD ops).
Weights are random (seeded), calibration data uniform in [-1, 1]: the memory plan depends on shapes only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

#: (expansion, output channels, depthwise kernel, stride) per inverted residual block, MCUNet-VWW-like
BLOCKS = [(1, 8, 3, 1), (6, 16, 7, 2), (3, 16, 3, 1), (5, 16, 5, 1), (4, 24, 5, 2), (5, 24, 5, 1), (4, 24, 3, 1),
          (6, 40, 7, 2), (6, 40, 3, 1), (4, 48, 5, 1), (5, 48, 3, 1), (6, 96, 5, 2), (4, 96, 3, 1), (5, 160, 3, 1)]


def keras_model(size: int = 80, seed: int = 0):
    import keras

    init = keras.initializers.HeNormal(seed=seed)
    x = inp = keras.Input((size, size, 3), batch_size=1)
    x = keras.layers.ZeroPadding2D(1)(x)
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu6", kernel_initializer=init)(x)
    cin = 16
    for expand, cout, k, stride in BLOCKS:
        y = x
        if expand != 1:
            y = keras.layers.Conv2D(cin * expand, 1, activation="relu6", kernel_initializer=init)(y)
        if stride == 2:
            y = keras.layers.ZeroPadding2D(k // 2)(y)
        y = keras.layers.DepthwiseConv2D(k, strides=stride, padding="valid" if stride == 2 else "same",
                                         activation="relu6", depthwise_initializer=init)(y)
        y = keras.layers.Conv2D(cout, 1, kernel_initializer=init)(y)
        x = keras.layers.Add()([x, y]) if stride == 1 and cin == cout else y
        cin = cout
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(2, kernel_initializer=init)(x)
    return keras.Model(inp, x)


def build(path: Path, size: int = 80, seed: int = 0) -> Path:
    """Convert the network to a fully int8 .tflite (int8 I/O) at ``path``."""
    import numpy as np
    import tensorflow as tf

    model = keras_model(size, seed)
    rng = np.random.default_rng(seed)

    def rep():
        for _ in range(8):
            yield [rng.uniform(-1, 1, size=(1, size, size, 3)).astype(np.float32)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    Path(path).write_bytes(conv.convert())
    return Path(path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", help="the .tflite to write")
    ap.add_argument("--size", type=int, default=80, help="input height and width (default 80)")
    args = ap.parse_args(argv)
    print(build(Path(args.out), args.size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
