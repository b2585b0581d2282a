"""In-place window kernels: the delay ring computed by edgeq.compiler.ops.base.inplace_delay is exactly what the
kernels' loop order needs - with it no input byte is overwritten before its last read, with one byte less one is.

The simulation replays the portable kernels' loops (conv: b, y, x, out channel, taps, in channels; depthwise: b, y, x,
in channel, multiplier, taps; the output written in that order through a ring of D bytes) on one shared buffer.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler_util import compile_and_build, single_op_model, tflm_runtime  # noqa: F401

from edgeq.compiler.ops.base import inplace_delay
from edgeq.quant.reference_ops import compute_out_size, compute_padding


def _reads(kind, n, h, w, cin, ho, wo, cout, kh, kw, sh, sw, dh, dw, ph, pw, mult, fc):
    """Yield, per output element in write order, the input flat positions it reads."""
    groups = cin // fc if kind == "conv" else 1
    fpg = cout // groups if kind == "conv" else 1
    for b in range(n):
        for oy in range(ho):
            for ox in range(wo):
                for oc in range(cout):
                    pos = []
                    for ky in range(kh):
                        iy = oy * sh - ph + dh * ky
                        if not 0 <= iy < h:
                            continue
                        for kx in range(kw):
                            ix = ox * sw - pw + dw * kx
                            if not 0 <= ix < w:
                                continue
                            base = ((b * h + iy) * w + ix) * cin
                            if kind == "conv":
                                g = oc // fpg
                                pos.extend(base + g * fc + c for c in range(fc))
                            elif kind == "dw":
                                pos.append(base + oc // mult)
                            else:
                                pos.append(base + oc)
                    yield pos


def _clobbers(reads, delay: int) -> bool:
    """True if, with a ring of ``delay`` bytes, some read hits an output byte already stored in place."""
    stored = -1  # outputs 0..stored have reached memory
    for e, pos in enumerate(reads):
        if pos and min(pos) <= stored:
            return True
        stored = e - delay  # after computing e, output e - delay leaves the ring
    return False


@st.composite
def layers(draw):
    kind = draw(st.sampled_from(["conv", "dw", "pool"]))
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = (1, 1) if kind == "pool" else (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = draw(st.sampled_from(["SAME", "VALID"]))
    h, w = max(h, (kh - 1) * dh + 1), max(w, (kw - 1) * dw + 1)
    cin = draw(st.integers(1, 5))
    mult, fc = 1, cin
    if kind == "conv":
        groups = draw(st.sampled_from([g for g in (1, 2, 3) if cin % g == 0]))
        fc = cin // groups
        cout = groups * draw(st.integers(1, 3))
    elif kind == "dw":
        mult = draw(st.integers(1, 3))
        cout = cin * mult
    else:
        cout = cin
    ho, wo = compute_out_size(padding, h, kh, sh, dh), compute_out_size(padding, w, kw, sw, dw)
    ph, pw = compute_padding(sh, dh, h, kh, ho), compute_padding(sw, dw, w, kw, wo)
    n = draw(st.integers(1, 2))
    return (kind, n, h, w, cin, ho, wo, cout, kh, kw, sh, sw, dh, dw, ph, pw, mult, fc)


def _channel_term(kind, cout, cin, mult, fc):
    co = np.arange(cout)
    if kind == "conv":
        return co - (co // (cout // (cin // fc))) * fc
    if kind == "dw":
        return co - co // mult
    return np.zeros(cout, dtype=np.int64)


@settings(max_examples=300, deadline=None)
@given(layers())
def test_delay_is_exact(layer):
    kind, n, h, w, cin, ho, wo, cout, kh, kw, sh, sw, dh, dw, ph, pw, mult, fc = layer
    d = inplace_delay((n, h, w, cin), (n, ho, wo, cout), _channel_term(kind, cout, cin, mult, fc), kh, kw, sh, sw,
                      dh, dw, ph, pw)
    reads = list(_reads(*layer))
    assert not _clobbers(reads, d)
    if d > 0:
        assert _clobbers(reads, d - 1)


def test_known_cases():
    # KWS depthwise: 3x3 stride 1 SAME on 25x5x64 -> one row plus one pixel
    d = inplace_delay((1, 25, 5, 64), (1, 25, 5, 64), np.zeros(64, np.int64), 3, 3, 1, 1, 1, 1, 1, 1)
    assert d == (5 + 1) * 64
    # 1x1 convolution 64 -> 64: one pixel minus one byte
    co = np.arange(64)
    assert inplace_delay((1, 25, 5, 64), (1, 25, 5, 64), co, 1, 1, 1, 1, 1, 1, 0, 0) == 63
    # MobileNet stride-2 depthwise: no delay at all
    assert inplace_delay((1, 48, 48, 16), (1, 24, 24, 16), np.zeros(16, np.int64), 3, 3, 2, 2, 1, 1, 0, 0) == 0
    # global average pool: none either
    assert inplace_delay((1, 25, 5, 64), (1, 1, 1, 64), np.zeros(64, np.int64), 25, 5, 1, 1, 1, 1, 0, 0) == 0


def _clobbers_in_steps(steps, delay: int) -> bool:
    """Like _clobbers for a kernel that reads a group of inputs, then writes a group of outputs: ``steps`` yields
    (input positions read, number of output bytes then written in memory order)."""
    stored = -1
    produced = 0
    for pos, n_out in steps:
        if pos and min(pos) <= stored:
            return True
        produced += n_out
        stored = produced - 1 - delay
    return False


def _pointwise_steps(n, h, w, cin, cout, s, stage):
    """edgeq_convolve_1x1_s8 through the ring: two pixels read whole, then their 2 x cout outputs (cout <= stage);
    otherwise one pixel and `stage` channels at a time."""
    ho, wo = (h - 1) // s + 1, (w - 1) // s + 1
    px = [((b * h + oy * s) * w + ox * s) * cin for b in range(n) for oy in range(ho) for ox in range(wo)]
    k = 0
    while k < len(px):
        two = k + 1 < len(px) and cout <= stage
        group = px[k:k + 1 + two]
        if cout <= stage:
            yield [p + c for p in group for c in range(cin)], len(group) * cout
        else:
            for c0 in range(0, cout, stage):
                yield [px[k] + c for c in range(cin)], min(stage, cout - c0)
        k += 1 + two


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 2), st.integers(1, 6), st.integers(1, 6), st.integers(1, 9), st.integers(1, 9),
       st.integers(1, 3), st.sampled_from([2, 4, 128]))
def test_pointwise_kernel_order_is_safe_with_the_delay(n, h, w, cin, cout, s, stage):
    """The 1x1 kernel's order (pairs of pixels staged, or channel chunks of one pixel) never overwrites an input it
    still needs with the ring the compiler sizes for the general convolution's order."""
    ho, wo = (h - 1) // s + 1, (w - 1) // s + 1
    d = inplace_delay((n, h, w, cin), (n, ho, wo, cout), np.arange(cout), 1, 1, s, s, 1, 1, 0, 0)
    assert not _clobbers_in_steps(_pointwise_steps(n, h, w, cin, cout, s, stage), d)


# ---------------------------------------------------------------------------------------- in place, channel by channel


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 9), st.integers(1, 9), st.integers(1, 6), st.integers(1, 5), st.integers(1, 5),
       st.integers(1, 3), st.integers(1, 3), st.integers(0, 3), st.integers(0, 3))
def test_channel_order_never_overwrites_an_unread_input(h, w, c, kh, kw, sh, sw, pad_h, pad_w):
    """edgeq_depthwise_conv_inplace_s8's order on one shared buffer: channel c is read whole (into the plane), then
    its outputs are stored at q * C + c. No store hits an input byte that is read later, for every shape the compiler
    accepts (output pixels <= input pixels)."""
    ho, wo = (h + 2 * pad_h - kh) // sh + 1, (w + 2 * pad_w - kw) // sw + 1
    if ho < 1 or wo < 1 or ho * wo > h * w:
        return
    read_last = {p * c + ch: ch for p in range(h * w) for ch in range(c)}  # input byte -> the step that reads it
    for step in range(c):  # step = channel
        for q in range(ho * wo):
            pos = q * c + step
            assert read_last[pos] <= step, (pos, step)


INPLACE_CHANNEL_SPECS = {
    # the delay ring would be more than a quarter of the tensor: only the channel plane runs it in place
    "dw7x7-same": {"op": "dw", "inputs": [[8, 8, 16]], "mult": 1, "kernel": [7, 7], "strides": [1, 1],
                   "dilation": [1, 1], "padding": "same", "act": "relu6", "bias": True, "seed": 21},
    "dw3x3-dilated": {"op": "dw", "inputs": [[8, 9, 16]], "mult": 1, "kernel": [3, 3], "strides": [1, 1],
                      "dilation": [2, 2], "padding": "same", "act": None, "bias": True, "seed": 22},
    "dw5x5-folded-asymmetric-pad": {"op": "pad_conv", "inputs": [[8, 8, 16]], "padding": [[2, 2], [1, 3]],
                                    "kernel": [5, 5], "strides": [1, 1], "filters": 1, "conv_padding": "valid",
                                    "depthwise": True, "seed": 23},
}


@pytest.mark.tf
@pytest.mark.parametrize("key", sorted(INPLACE_CHANNEL_SPECS))
def test_inplace_channel_kernel_bit_exact_with_tflm(single_op_model, tmp_path, key):
    """The depthwise layer runs in place one channel at a time (its output over its input, an H x W plane) and its
    outputs equal TFLM's; built with the address and undefined-behaviour sanitizers."""
    from edgeq.reference import PortableHostReference, TflmReference

    tflm_runtime()
    path = single_op_model(INPLACE_CHANNEL_SPECS[key])
    binary, res = compile_and_build(path, tmp_path / key)
    model_c = (tmp_path / key / "model.c").read_text()
    assert "edgeq_depthwise_conv_inplace_s8(" in model_c and "B channel plane" in model_c
    dw = next(r for r in res.memory_report if r["op"] == "DEPTHWISE_CONV_2D")
    assert dw["inplace"] and dw["inplace_method"] == "channel"
    assert res.ram_bytes == res.bound < 2 * dw["out_bytes"]
    tflm, host = TflmReference(path), PortableHostReference(path, binary=binary)
    rng = np.random.default_rng(len(key))
    batch = [rng.integers(0, 256, size=tflm.inputs[0].nbytes, dtype=np.uint8).tobytes() for _ in range(4)]
    assert host.run_many(batch) == tflm.run_many(batch)


INPLACE_PLANE_SPECS = {
    # 3x3 depthwise layers run in place through a padded channel plane (edgeq_depthwise_conv_3x3_plane_s8): channel
    # counts that are not multiples of 4, odd widths (stride 1: the last output of a row alone), SAME and VALID
    # padding, stride 2, a clamped activation and none, no bias
    "s1-same-c13-relu6": {"op": "dw", "inputs": [[7, 9, 13]], "mult": 1, "kernel": [3, 3], "strides": [1, 1],
                         "dilation": [1, 1], "padding": "same", "act": "relu6", "bias": True, "seed": 31},
    "s1-valid-c16-nobias": {"op": "dw", "inputs": [[4, 8, 16]], "mult": 1, "kernel": [3, 3], "strides": [1, 1],
                            "dilation": [1, 1], "padding": "valid", "act": None, "bias": False, "seed": 32},
    "s2-same-c7": {"op": "dw", "inputs": [[10, 9, 7]], "mult": 1, "kernel": [3, 3], "strides": [2, 2],
                   "dilation": [1, 1], "padding": "same", "act": "relu", "bias": True, "seed": 33},
    "s1-same-1-wide": {"op": "dw", "inputs": [[5, 1, 40]], "mult": 1, "kernel": [3, 3], "strides": [1, 1],
                       "dilation": [1, 1], "padding": "same", "act": None, "bias": True, "seed": 34},
}


@pytest.mark.tf
@pytest.mark.parametrize("key", sorted(INPLACE_PLANE_SPECS))
def test_inplace_3x3_plane_kernel_bit_exact_with_tflm(single_op_model, tmp_path, key):
    """A 3x3 depthwise layer that runs in place runs by padded channel plane (the fastest in-place kernel) and its
    outputs equal TFLM's; built with the address and undefined-behaviour sanitizers (the plane's word reads stay
    inside its slack)."""
    from edgeq.reference import PortableHostReference, TflmReference

    tflm_runtime()
    path = single_op_model(INPLACE_PLANE_SPECS[key])
    binary, res = compile_and_build(path, tmp_path / key)
    model_c = (tmp_path / key / "model.c").read_text()
    dw = next(r for r in res.memory_report if r["op"] == "DEPTHWISE_CONV_2D")
    if dw["inplace"] and dw["inplace_method"] == "channel":
        assert "edgeq_depthwise_conv_3x3_plane_s8(" in model_c and "B channel plane" in model_c
    else:  # a layer whose delay ring is 0 (plain in-place writes) keeps the 3x3 kernel
        assert "edgeq_depthwise_conv_3x3_s8(" in model_c
    if key.startswith("s1-same"):  # (VALID and stride 2 read nothing below their output: ring 0, plain writes)
        assert dw["inplace"] and dw["inplace_method"] == "channel", dw
    tflm, host = TflmReference(path), PortableHostReference(path, binary=binary)
    rng = np.random.default_rng(len(key))
    batch = [rng.integers(0, 256, size=tflm.inputs[0].nbytes, dtype=np.uint8).tobytes() for _ in range(4)]
    assert host.run_many(batch) == tflm.run_many(batch)


PLANE_SCRATCH_SPECS = {
    # 3x3 depthwise layers that cannot run in place (the input feeds a residual ADD too) run by padded channel plane
    # in the kernel scratch when the plan's RAM allows
    "s1-same-c6-relu6": {"op": "dw_keep", "expand": 4, "inputs": [[6, 7, 6]], "kernel": [3, 3],
                         "strides": [1, 1], "padding": "same", "act": "relu6", "bias": True, "seed": 41},
    "s1-same-c9-nobias": {"op": "dw_keep", "expand": 4, "inputs": [[5, 11, 9]], "kernel": [3, 3],
                          "strides": [1, 1], "padding": "same", "act": "relu", "bias": False, "seed": 42},
    # 5x5 / 7x7 (edgeq_depthwise_conv_kxk_plane_s8)
    "k5-s1-same-c6-relu6": {"op": "dw_keep", "expand": 4, "inputs": [[9, 8, 6]], "kernel": [5, 5],
                            "strides": [1, 1], "padding": "same", "act": "relu6", "bias": True, "seed": 44},
    "k7-s1-same-c9": {"op": "dw_keep", "expand": 4, "inputs": [[8, 11, 9]], "kernel": [7, 7],
                      "strides": [1, 1], "padding": "same", "act": None, "bias": True, "seed": 45},
    # (3x3 stride 2 with its plane in the scratch: VWW's layers 3 and 7, tests/test_compiler_mlperf.py on the host and
    # tests/test_firmware_qemu.py on qemu-m4)
}


@pytest.mark.tf
@pytest.mark.parametrize("key", sorted(PLANE_SCRATCH_SPECS))
def test_3x3_plane_kernel_with_scratch_bit_exact_with_tflm(single_op_model, tmp_path, key):
    """The depthwise layer keeps its own output buffer and gets its channel plane in the kernel scratch (no more RAM
    than without it); outputs equal TFLM's, built with the address and undefined-behaviour sanitizers."""
    from edgeq.compiler import plan_model
    from edgeq.reference import PortableHostReference, TflmReference

    tflm_runtime()
    path = single_op_model(PLANE_SCRATCH_SPECS[key])
    binary, res = compile_and_build(path, tmp_path / key)
    model_c = (tmp_path / key / "model.c").read_text()
    kernel = "kxk_plane" if key.startswith("k") else "3x3_plane"
    assert f"edgeq_depthwise_conv_{kernel}_s8(" in model_c and "B channel plane of layer" in model_c
    dw = next(r for r in res.memory_report if r["op"] == "DEPTHWISE_CONV_2D")
    assert not dw["inplace"] and dw["scratch"] > 0
    assert res.ram_bytes <= plan_model(path, target="host", optimize="size").plan.ram_bytes
    tflm, host = TflmReference(path), PortableHostReference(path, binary=binary)
    rng = np.random.default_rng(len(key))
    batch = [rng.integers(0, 256, size=tflm.inputs[0].nbytes, dtype=np.uint8).tobytes() for _ in range(4)]
    assert host.run_many(batch) == tflm.run_many(batch)


MCUNET_LIKE = {"op": "mcunet_like", "inputs": [[32, 32, 3]], "width": 8, "seed": 4}


@pytest.mark.tf
@pytest.mark.parametrize("backend", ["portable", "cmsis-nn"])
def test_mcunet_like_net_bit_exact_with_folded_pads_and_inplace_depthwise(single_op_model, tmp_path, backend,
                                                                          cmsis_nn_dir):
    """An MCUNet-like net as PyTorch exports it (explicit symmetric and asymmetric PADs, 7x7 / 5x5 depthwise, a
    residual ADD): every PAD folded, depthwise layers in place (portable: also by channel plane), RAM on the op-order
    bound, outputs equal to TFLM's."""
    from edgeq.compiler import build_host, compile_model
    from edgeq.reference import PortableHostReference, TflmReference
    from edgeq.tflite import read_model

    tflm_runtime()
    path = single_op_model(MCUNET_LIKE)
    assert read_model(path).op_counts()["PAD"] == 3
    out = tmp_path / backend
    res = compile_model(path, target="host", backend=backend, out_dir=out, cmsis_nn_dir=cmsis_nn_dir)
    binary = build_host(out)
    model_c = (out / "model.c").read_text()
    assert model_c.count("PAD folded into layer") == 3 and "pad(" not in model_c and "pad_s8(" not in model_c
    assert res.ram_bytes == res.bound <= res.op_order_bound
    if backend == "portable":  # (CMSIS-NN's kernels keep their outputs apart here: RAM = the bound without in-place)
        # depthwise layers at the peak run in place; one away from it may keep its own output (no RAM cost) and a
        # faster kernel (compiler._fastest_where_free)
        assert re.search(r"DEPTHWISE_CONV_2D +(?:\d+ +){4}in place", model_c) and res.ram_bytes < res.op_order_bound
    tflm, host = TflmReference(path), PortableHostReference(path, binary=binary)
    rng = np.random.default_rng(5)
    batch = [rng.integers(0, 256, size=tflm.inputs[0].nbytes, dtype=np.uint8).tobytes() for _ in range(4)]
    assert host.run_many(batch) == tflm.run_many(batch)
