"""Helpers for the compiler tests: compile + build the host program, run it, run TFLM on the same inputs."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

SANITIZE = "-fsanitize=address,undefined -fno-sanitize-recover=all"


def require_gcc() -> None:
    if not shutil.which("gcc") or not shutil.which("make"):
        pytest.skip("gcc/make not installed (apt-get install -y --no-install-recommends gcc make)")


def tflm_runtime():
    return pytest.importorskip("tflite_micro.python.tflite_micro.runtime",
                               reason="the TFLM reference interpreter is needed (pip install tflite-micro)")


def compile_and_build(model, out_dir: Path, sanitize: bool = True, **kw) -> tuple[Path, object]:
    """edgeq compile (portable, host) + make; returns (model_host path, CompileResult)."""
    from edgeq.compiler import build_host, compile_model

    require_gcc()
    res = compile_model(model, target="host", backend="portable", out_dir=out_dir, **kw)
    binary = build_host(out_dir, extra_cflags=SANITIZE if sanitize else "")
    return binary, res


def _as_tuple(x) -> tuple:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def run_host(binary: Path, inputs: list, out_dtype, timeout: float = 300) -> list[np.ndarray]:
    """Push all inputs through one model_host process; split its stdout into one array per inference.
    Each element of ``inputs`` is an array (one-input model) or a tuple of arrays (one per model input)."""
    data = b"".join(np.ascontiguousarray(x).tobytes() for xs in inputs for x in _as_tuple(xs))
    proc = subprocess.run([str(binary)], input=data, capture_output=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    out = np.frombuffer(proc.stdout, dtype=out_dtype)
    assert out.size % len(inputs) == 0, (out.size, len(inputs))
    return list(out.reshape(len(inputs), -1))


def tflm_run(model_path: Path, inputs: list[np.ndarray]) -> list[np.ndarray]:
    runtime = tflm_runtime()
    it = runtime.Interpreter.from_file(str(model_path))
    outs = []
    for xs in inputs:
        for k, x in enumerate(_as_tuple(xs)):
            it.set_input(x, k)
        it.invoke()
        outs.append(np.array(it.get_output(0)).reshape(-1).copy())
        it.reset()  # recurrent state back to its initial value, as model_host's edgeq_reset() per input
    return outs


def input_spec(model_path: Path) -> tuple[tuple[int, ...], np.dtype, np.dtype]:
    from edgeq.tflite import read_model

    g = read_model(model_path)
    t_in, t_out = g.input_tensors()[0], g.output_tensors()[0]
    return tuple(t_in.shape), np.dtype(t_in.dtype), np.dtype(t_out.dtype)


def random_inputs(model_path: Path, n: int, seed: int = 0) -> list[np.ndarray]:
    """n seeded random inputs in the model's input dtypes (integers: uniform over the type's range; float32: normal,
    sd 20);
    an array per inference for one-input models, else a tuple of arrays in graph input order."""
    from edgeq.tflite import read_model

    specs = [(tuple(t.shape), np.dtype(t.dtype), t.scale, t.zero_point)
             for t in read_model(model_path).input_tensors()]
    rng = np.random.default_rng(seed)

    def one(shape, dtype, scale, zp):
        if dtype.kind == "i":
            info = np.iinfo(dtype)
            return rng.integers(info.min, info.max + 1, size=shape, dtype=dtype)
        return rng.normal(0.0, 20.0, size=shape).astype(dtype)

    out = []
    for _ in range(n):
        xs = tuple(one(*s) for s in specs)
        out.append(xs[0] if len(xs) == 1 else xs)
    return out


def assert_bit_exact(model_path: Path, binary: Path, inputs: list[np.ndarray]) -> None:
    _, _, out_dtype = input_spec(model_path)
    ref = tflm_run(model_path, inputs)
    got = run_host(binary, inputs, out_dtype)
    bad = [i for i, (r, g) in enumerate(zip(ref, got)) if r.tobytes() != g.tobytes()]
    if bad:
        i = bad[0]
        diff = np.abs(ref[i].astype(np.float64) - got[i].astype(np.float64))
        raise AssertionError(f"{len(bad)} of {len(inputs)} outputs differ from TFLM (first: input {i}, "
                             f"max diff {diff.max()}, {int((diff > 0).sum())} elements)")


# ---- model building -------------------------------------------------------------------------------------------------


def input_names(spec: dict) -> list[str]:
    """The Keras input names of a spec's model: ``spec["input_names"]`` or ``input_0, input_1, ...``, never Keras'
    process-wide counters (``keras_tensor_17``). The converter orders a multi-input model's inputs in its own way
    (not the spec's order), so the representative data is fed by these names (a dict), never as a list: a list goes
    to the model's inputs by position, and a swapped pair was calibrated with each other's data or, when their shapes
    differ, resized to the other's shape (a RESHAPE's Prepare then failed inside the converter)."""
    return list(spec.get("input_names") or [f"input_{k}" for k in range(len(spec["inputs"]))])


def _keras_model(spec: dict):
    import keras

    op = spec["op"]
    init = keras.initializers.RandomNormal(stddev=spec.get("w_std", 0.3), seed=spec.get("seed", 0))
    binit = keras.initializers.RandomNormal(stddev=0.5, seed=spec.get("seed", 0) + 1)
    shapes = spec["inputs"]
    names = input_names(spec)
    ins = [keras.Input(tuple(s), batch_size=1, name=nm) for s, nm in zip(shapes, names)]
    x = ins[0]
    act = spec.get("act")
    if op == "conv":
        y = keras.layers.Conv2D(spec["filters"], tuple(spec["kernel"]), strides=tuple(spec["strides"]),
                                padding=spec["padding"], dilation_rate=tuple(spec["dilation"]), activation=act,
                                use_bias=spec["bias"], kernel_initializer=init, bias_initializer=binit,
                                groups=spec.get("groups", 1))(x)
    elif op == "dw":
        y = keras.layers.DepthwiseConv2D(tuple(spec["kernel"]), strides=tuple(spec["strides"]),
                                         padding=spec["padding"], depth_multiplier=spec["mult"],
                                         dilation_rate=tuple(spec["dilation"]), activation=act,
                                         use_bias=spec["bias"], depthwise_initializer=init,
                                         bias_initializer=binit)(x)
    elif op == "dw_keep":  # a depthwise layer whose input stays live (a residual ADD): it cannot run in place;
        y = keras.layers.DepthwiseConv2D(tuple(spec["kernel"]), strides=tuple(spec["strides"]),
                                         padding=spec["padding"], activation=act, use_bias=spec["bias"],
                                         depthwise_initializer=init, bias_initializer=binit)(x)
        s = tuple(spec["strides"])
        y = keras.layers.Add()([y, keras.layers.AveragePooling2D(s, strides=s, padding=spec["padding"])(x)
                                if s != (1, 1) else x])
        # then a wider 1x1 convolution: the memory peak, beside which the depthwise layer has bytes to spare
        y = keras.layers.Conv2D(spec["expand"] * spec["inputs"][0][2], 1, kernel_initializer=init)(y)
    elif op == "dense":
        y = keras.layers.Dense(spec["units"], activation=act, kernel_initializer=init, bias_initializer=binit,
                               use_bias=spec["bias"])(x)
    elif op in ("avgpool", "maxpool"):
        cls = keras.layers.AveragePooling2D if op == "avgpool" else keras.layers.MaxPooling2D
        y = cls(tuple(spec["pool"]), strides=tuple(spec["strides"]), padding=spec["padding"])(x)
        if act:
            y = keras.layers.Activation(act)(y)
    elif op == "add":
        other = ins[1] if len(ins) > 1 else keras.ops.convert_to_tensor(
            np.random.default_rng(spec["seed"]).normal(size=spec["const_shape"]).astype(np.float32))
        y = keras.ops.add(x, other)
        if act:
            y = keras.layers.Activation(act)(y)
    elif op == "mul":
        other = ins[1] if len(ins) > 1 else keras.ops.convert_to_tensor(
            np.random.default_rng(spec["seed"]).normal(size=spec["const_shape"]).astype(np.float32))
        y = keras.ops.multiply(x, other)
    elif op == "softmax":
        y = keras.layers.Softmax()(keras.layers.Reshape(tuple(spec["reshape"]))(x) if spec.get("reshape") else x)
    elif op == "mean":
        y = keras.ops.mean(x, axis=tuple(spec["axis"]), keepdims=spec["keepdims"])
    elif op == "concat":
        y = keras.layers.Concatenate(axis=spec["axis"])(ins)
    elif op == "pad":
        y = keras.layers.ZeroPadding2D(tuple(map(tuple, spec["padding"])))(x)
    elif op == "pad_conv":  # PAD then a VALID/SAME convolution or depthwise (the PAD is folded into it)
        y = keras.layers.ZeroPadding2D(tuple(map(tuple, spec["padding"])))(x)
        if spec.get("depthwise"):
            y = keras.layers.DepthwiseConv2D(tuple(spec["kernel"]), strides=tuple(spec["strides"]),
                                             padding=spec["conv_padding"], depthwise_initializer=init)(y)
        else:
            y = keras.layers.Conv2D(spec["filters"], tuple(spec["kernel"]), strides=tuple(spec["strides"]),
                                    padding=spec["conv_padding"], kernel_initializer=init)(y)
    elif op == "logistic":
        y = keras.layers.Activation("sigmoid")(x)
    elif op == "relu":
        y = keras.layers.ReLU(max_value=spec.get("max_value"))(x)
    elif op == "tanh":
        y = keras.layers.Activation("tanh")(x)
    elif op == "padv2":  # tf.pad with a nonzero constant value (the converter makes PADV2)
        import tensorflow as tf

        y = keras.layers.Lambda(lambda t: tf.pad(t, spec["padding"], constant_values=spec["value"]))(x)
    elif op in ("reduce_max", "reduce_min", "reduce_sum"):
        fn = {"reduce_max": keras.ops.max, "reduce_min": keras.ops.min, "reduce_sum": keras.ops.sum}[op]
        y = fn(x, axis=tuple(spec.get("axis", [-1])), keepdims=spec.get("keepdims", False))
    elif op == "mirror_pad":  # tf.pad REFLECT / SYMMETRIC over height and width
        import tensorflow as tf

        y = keras.layers.Lambda(lambda t: tf.pad(t, spec["padding"], mode=spec["mode"]))(x)
    elif op == "abs":
        y = keras.ops.abs(x)
    elif op == "log_softmax":  # unsupported by the compiler (TFLM runs it)
        y = keras.layers.Activation("log_softmax")(x)
    elif op == "transpose_conv":
        y = keras.layers.Conv2DTranspose(spec.get("filters", 3), tuple(spec.get("kernel", (3, 3))),
                                         strides=tuple(spec.get("strides", (2, 2))),
                                         padding=spec.get("padding", "same"),
                                         use_bias=spec.get("bias", True), activation=spec.get("act"),
                                         kernel_initializer=init, bias_initializer=binit)(x)
    elif op == "matmul":  # BATCH_MATMUL of two inputs (transposed operands: the converter sets adj_x / adj_y)
        lhs = keras.ops.swapaxes(x, -1, -2) if spec.get("transpose_a") else x
        other = ins[1] if len(ins) > 1 else keras.ops.convert_to_tensor(  # "const_shape": a constant rhs
            np.random.default_rng(spec["seed"]).normal(size=spec["const_shape"]).astype(np.float32))
        other = keras.ops.swapaxes(other, -1, -2) if spec.get("transpose_b") else other
        y = keras.ops.matmul(lhs, other)
    elif op == "prelu":
        y = keras.layers.PReLU(alpha_initializer=keras.initializers.RandomUniform(-0.5, 1.5, seed=spec["seed"]),
                               shared_axes=spec.get("shared_axes"))(x)
    elif op in ("argmax", "argmin"):
        import tensorflow as tf

        fn = tf.math.argmax if op == "argmax" else tf.math.argmin
        y = keras.layers.Lambda(lambda t: fn(t, axis=spec["axis"], output_type=getattr(tf, spec["out"])))(x)
    elif op == "hard_swish":
        y = keras.layers.Activation("hard_swish")(x)
    elif op == "leaky_relu":
        y = keras.layers.LeakyReLU(negative_slope=spec.get("alpha", 0.2))(x)
    elif op == "sub":
        other = ins[1] if len(ins) > 1 else keras.ops.convert_to_tensor(
            np.random.default_rng(spec["seed"]).normal(size=spec["const_shape"]).astype(np.float32))
        y = keras.ops.subtract(x, other)
        if spec.get("act"):
            y = keras.layers.Activation(spec["act"])(y)
    elif op == "transpose":
        y = keras.ops.transpose(x, axes=tuple(spec["perm"]))
    elif op == "transpose_mean":  # TRANSPOSE then MEAN (folded when the transpose only moves reduced axes)
        y = keras.ops.mean(keras.ops.transpose(x, axes=tuple(spec["perm"])), axis=tuple(spec["axis"]),
                           keepdims=spec.get("keepdims", False))
    elif op == "strided_slice":  # python slicing of the batch-1 tensor: begin/end/step per axis (None = open)
        y = x[tuple(slice(*a) for a in spec["slices"])]
    elif op == "gather":
        y = keras.ops.take(x, np.asarray(spec["indices"], dtype=np.int32), axis=spec["axis"])
    elif op == "slice":
        y = keras.ops.slice(x, spec["begin"], spec["size"])
    elif op == "split":  # "parts": a count (SPLIT) or the split indices (SPLIT_V)
        return keras.Model(ins, keras.ops.split(x, spec["parts"], axis=spec["axis"]))
    elif op == "stack":
        y = keras.ops.stack(ins, axis=spec["axis"])
    elif op == "unstack":
        return keras.Model(ins, keras.ops.unstack(x, axis=spec["axis"]))
    elif op in ("depth_to_space", "space_to_depth"):
        import tensorflow as tf

        fn = tf.nn.depth_to_space if op == "depth_to_space" else tf.nn.space_to_depth
        y = keras.layers.Lambda(lambda t: fn(t, spec["block"]))(x)
    elif op == "resize_nearest":
        import tensorflow as tf

        y = keras.layers.Lambda(lambda t: tf.image.resize(t, spec["size"], method="nearest") if not spec.get("v1")
                                else tf.compat.v1.image.resize_nearest_neighbor(
                                    t, spec["size"], align_corners=spec.get("align_corners", False),
                                    half_pixel_centers=spec.get("half_pixel_centers", False)))(x)
    elif op == "squared_difference":
        import tensorflow as tf

        other = ins[1] if len(ins) > 1 else keras.ops.convert_to_tensor(
            np.random.default_rng(spec["seed"]).normal(size=spec["const_shape"]).astype(np.float32))
        y = keras.layers.Lambda(lambda ts: tf.math.squared_difference(ts[0], ts[1]))([x, other])
    elif op in ("maximum", "minimum"):
        other = ins[1] if len(ins) > 1 else keras.ops.convert_to_tensor(
            np.random.default_rng(spec["seed"]).normal(size=spec["const_shape"]).astype(np.float32))
        y = (keras.ops.maximum if op == "maximum" else keras.ops.minimum)(x, other)
    elif op == "nchw_net":  # a PyTorch-style export: NCHW input, TRANSPOSE first, MCUNet's TRANSPOSE before MEAN
        import tensorflow as tf

        y = keras.ops.transpose(x, axes=(0, 2, 3, 1))  # NCHW -> NHWC
        y = keras.layers.Conv2D(8, 3, padding="same", kernel_initializer=init)(y)
        y = keras.layers.Activation("hard_swish")(y)
        y = keras.layers.DepthwiseConv2D(3, padding="same", depthwise_initializer=init)(y)
        y = keras.layers.LeakyReLU(negative_slope=0.1)(y)
        z = keras.layers.Lambda(lambda t: tf.image.resize(t, (t.shape[1] * 2, t.shape[2] * 2), method="nearest"))(y)
        z = keras.layers.MaxPooling2D(2)(z)
        y = keras.ops.maximum(y, z)
        y = y[:, 1:, :, :4]  # STRIDED_SLICE
        y = keras.ops.transpose(y, axes=(0, 3, 1, 2))  # back to NCHW, then a mean over H, W
        y = keras.ops.mean(y, axis=(2, 3))
        y = keras.layers.Dense(5, kernel_initializer=init)(y)
        y = keras.layers.Activation("tanh")(y)
    elif op == "resize_bilinear":
        import tensorflow as tf

        y = keras.layers.Lambda(lambda t: tf.image.resize(t, spec["size"], method="bilinear") if not spec.get("v1")
                                else tf.compat.v1.image.resize_bilinear(
                                    t, spec["size"], align_corners=spec.get("align_corners", False),
                                    half_pixel_centers=spec.get("half_pixel_centers", False)))(x)
    elif op == "mixed_net":  # PAD folded into a conv, PRELU, bilinear resize, SPLIT, SUB, SQUARED_DIFFERENCE, PACK,
        import tensorflow as tf  # GATHER, ARG_MAX (int32 output) and a second int8 output

        y = keras.layers.ZeroPadding2D(((1, 2), (2, 1)))(x)
        y = keras.layers.Conv2D(6, 3, kernel_initializer=init)(y)
        y = keras.layers.PReLU(alpha_initializer=keras.initializers.Constant(0.25), shared_axes=[1, 2])(y)
        y = keras.layers.Lambda(lambda t: tf.compat.v1.image.resize_bilinear(t, (12, 11), half_pixel_centers=True))(y)
        a, b = keras.ops.split(y, 2, axis=-1)
        d = keras.ops.subtract(a, b)
        q = keras.layers.Lambda(lambda ts: tf.math.squared_difference(ts[0], ts[1]))([a, b])
        z = keras.ops.stack([d, q], axis=3)  # [1, 12, 11, 2, 3]
        z = keras.ops.reshape(z, (1, 12, 11, 6))
        z = keras.ops.take(z, np.asarray([5, 0, 3, 1], dtype=np.int32), axis=3)
        idx = keras.layers.Lambda(lambda t: tf.math.argmax(t, axis=-1, output_type=tf.int32))(z)
        s = keras.layers.Dense(4, kernel_initializer=init)(keras.ops.mean(z, axis=(1, 2)))
        return keras.Model(ins, [idx, s])
    elif op == "conv_dw_dense":  # Conv, 3x3 depthwise, a Conv to 1x1 and a Dense on it (no RESHAPE): int16x8 tests
        y = keras.layers.Conv2D(spec.get("filters", 6), 3, padding="same", activation="relu",
                                kernel_initializer=init, bias_initializer=binit)(x)
        y = keras.layers.DepthwiseConv2D(3, strides=2, padding="valid", depthwise_initializer=init,
                                         bias_initializer=binit)(y)
        y = keras.layers.Conv2D(4, tuple(y.shape[1:3]), kernel_initializer=init, bias_initializer=binit)(y)
        y = keras.layers.Dense(5, kernel_initializer=init, bias_initializer=binit)(y)
    elif op == "two_outputs":  # one input, two outputs of different sizes
        y1 = keras.layers.Conv2D(spec.get("filters", 4), 1, kernel_initializer=init)(x)
        y2 = keras.layers.MaxPooling2D(2)(x)
        return keras.Model(ins, [y1, y2])
    elif op == "int16_chain":  # pooling, ADD, MUL, CONCATENATION, PAD, TANH, LOGISTIC, MEAN, SOFTMAX (for int16x8)
        y1 = keras.layers.AveragePooling2D(2)(x)
        y2 = keras.layers.MaxPooling2D(2, strides=1, padding="same")(y1)
        y3 = keras.layers.Activation("relu")(keras.layers.Add()([y1, y2]))
        y4 = keras.layers.Multiply()([y3, keras.layers.Activation("tanh")(y1)])
        y = keras.layers.Concatenate()([y4, keras.layers.Activation("sigmoid")(y2)])
        y = keras.layers.ZeroPadding2D(((1, 0), (0, 1)))(y)
        y = keras.layers.Softmax()(keras.ops.mean(y, axis=(1, 2)))
    elif op == "pad_pool":  # [CONV_2D (+ activation)] -> PAD -> MAX_POOL_2D / AVERAGE_POOL_2D (ResNet's stem)
        y = keras.layers.Conv2D(spec.get("filters", 4), 1, activation=spec.get("conv_act"), kernel_initializer=init,
                                bias_initializer=binit)(x)
        y = keras.layers.ZeroPadding2D(tuple(map(tuple, spec["padding"])))(y)
        cls = keras.layers.MaxPooling2D if spec.get("pool", "max") == "max" else keras.layers.AveragePooling2D
        y = cls(tuple(spec["kernel"]), strides=tuple(spec["strides"]), padding="valid")(y)
    elif op == "mcunet_like":  # MCUNet-style, as PyTorch exports it: explicit symmetric PADs before stride-2
        # layers (not TF's SAME: the converter keeps them), an asymmetric one, inverted residual blocks with 7x7 / 5x5
        # depthwise, a residual ADD, a global pool; "width" scales the channels
        wd = spec.get("width", 8)
        kw = dict(kernel_initializer=init)
        dkw = dict(activation="relu6", depthwise_initializer=init)
        y = keras.layers.ZeroPadding2D(1)(x)
        y = keras.layers.Conv2D(wd, 3, strides=2, padding="valid", activation="relu6", **kw)(y)
        y = keras.layers.Conv2D(3 * wd, 1, activation="relu6", **kw)(y)
        y = keras.layers.DepthwiseConv2D(7, padding="same", **dkw)(y)
        y = keras.layers.Conv2D(wd, 1, **kw)(y)
        z = keras.layers.Conv2D(3 * wd, 1, activation="relu6", **kw)(y)
        z = keras.layers.ZeroPadding2D(((2, 2), (1, 3)))(z)
        z = keras.layers.DepthwiseConv2D(5, padding="valid", **dkw)(z)
        z = keras.layers.Conv2D(wd, 1, **kw)(z)
        y = keras.layers.Add()([y, z])
        y = keras.layers.Conv2D(4 * wd, 1, activation="relu6", **kw)(y)
        y = keras.layers.ZeroPadding2D(2)(y)
        y = keras.layers.DepthwiseConv2D(5, strides=2, padding="valid", **dkw)(y)
        y = keras.layers.Conv2D(2 * wd, 1, **kw)(y)
        y = keras.layers.Conv2D(6 * wd, 1, activation="relu6", **kw)(y)
        y = keras.layers.DepthwiseConv2D(7, padding="same", **dkw)(y)
        y = keras.layers.Conv2D(2 * wd, 1, **kw)(y)
        y = keras.layers.GlobalAveragePooling2D()(y)
        y = keras.layers.Dense(spec.get("units", 2), **kw)(y)
    elif op == "chain":  # a small CNN through several ops (also float I/O)
        y = keras.layers.Conv2D(8, 3, padding="same", activation="relu", kernel_initializer=init)(x)
        z = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu6", depthwise_initializer=init)(y)
        y = keras.layers.Add()([y, z])
        y = keras.layers.MaxPooling2D(2)(y)
        y = keras.layers.Flatten()(y)
        y = keras.layers.Dense(10, kernel_initializer=init)(y)
        y = keras.layers.Softmax()(y)
    else:  # pragma: no cover
        raise ValueError(op)
    return keras.Model(ins, y)


def _convert(spec: dict, path: Path) -> None:
    import tensorflow as tf

    model = _keras_model(spec)
    rng = np.random.default_rng(spec.get("seed", 0) + 7)
    r = spec.get("range", 2.0)
    shapes = spec["inputs"]

    names = input_names(spec)

    def rep():
        for _ in range(24):
            yield {nm: rng.uniform(c - rr, c + rr, size=(1, *s)).astype(np.float32)
                   for nm, s, rr, c in zip(names, shapes, spec.get("ranges", [r] * len(shapes)),
                                           spec.get("centers", [0.0] * len(shapes)))}

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if not (spec.get("float_io") or spec.get("float16") or spec.get("float32")):
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    if spec.get("float16"):  # float16 weights, float activations
        conv.representative_dataset = None
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        conv.target_spec.supported_types = [tf.float16]
    if spec.get("float32"):  # no quantization at all
        conv.optimizations = []
        conv.representative_dataset = None
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if spec.get("int16x8"):  # int16 activations and I/O (float I/O with "float_io"), int8 weights
        conv.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        conv.inference_input_type = tf.float32 if spec.get("float_io") else tf.int16
        conv.inference_output_type = tf.float32 if spec.get("float_io") else tf.int16
    if spec.get("per_tensor_dense"):
        conv._experimental_disable_per_channel_quantization_for_dense_layers = True
    if spec.get("per_tensor"):  # one filter scale per convolution instead of one per output channel
        conv._experimental_disable_per_channel = True
    if spec.get("bias_int32"):  # int16x8 with int32 instead of int64 bias
        conv._experimental_full_integer_quantization_bias_type = tf.int32
    path.write_bytes(conv.convert())


#: part of the cache key: bump it when _convert changes the models it makes (2: representative data fed by input name)
GENERATOR_VERSION = 2


@pytest.fixture(scope="session")
def single_op_model(request, tmp_path_factory):
    """spec -> path of the converted .tflite (int8 PTQ unless the spec says otherwise), cached across runs in
    pytest's cache folder keyed by the spec and the TensorFlow version."""
    tf = pytest.importorskip("tensorflow", reason="TensorFlow is needed to build single-op models")
    cache = Path(request.config.cache.mkdir("edgeq-compiler-ops")) if request.config.cache else \
        tmp_path_factory.mktemp("ops-cache")

    def make(spec: dict) -> Path:
        key = hashlib.sha256(json.dumps([spec, tf.__version__, GENERATOR_VERSION], sort_keys=True).encode()
                             ).hexdigest()[:20]
        path = cache / f"{spec['op']}-{key}.tflite"
        if not path.exists():
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            _convert(spec, tmp)
            tmp.replace(path)
        return path

    return make
