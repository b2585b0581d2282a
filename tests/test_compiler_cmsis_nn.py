"""``--backend cmsis-nn``: every int8 MLPerf Tiny model compiled for host against the user's CMSIS-NN checkout, run,
compared with TFLM byte for byte; cross-compiled for Cortex-M4 (and M0+/M7/M55) with -Wall -Wextra -Werror; the
per-target scratch sizes; single-op models through the CMSIS-NN dispatch paths.

Needs a checkout of github.com/ARM-software/CMSIS-NN in $EDGEQ_CMSIS_NN_DIR (skipped otherwise). CMSIS-NN's own
sources shift negative values and compute ``(1 << 31) - 1`` (defined on every compiler it supports, undefined in ISO
C), so these host builds keep ASan and UBSan except -fsanitize=shift,signed-integer-overflow; edgeq's own kernels get
the full sanitizers in test_compiler_mlperf.py.
"""

from __future__ import annotations

import itertools
import subprocess
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from compiler_util import SANITIZE, assert_bit_exact, random_inputs, single_op_model, tflm_runtime  # noqa: F401
from conftest import assert_user_error, require_tool, run_cli
from test_compiler_mlperf import MODELS, _sample_inputs
from test_compiler_elementwise_ops import binary_specs as ew_binary_specs
from test_compiler_ops import binary_specs, conv_specs, dense_specs, dw_specs, pool_specs

N_RANDOM = 10
CMSIS_SANITIZE = SANITIZE + " -fno-sanitize=shift,signed-integer-overflow"
ARM_FLAGS = {
    "cortex-m0plus": ["-mcpu=cortex-m0plus", "-mthumb", "-mfloat-abi=soft"],
    "cortex-m4": ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
    "cortex-m7": ["-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16"],
    "cortex-m55": ["-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard"],
}
#: largest kernel scratch (bytes) TFLM's CMSIS-NN kernels ask for (cmsis-nn-notes.md), per CMSIS-NN code path
EXPECTED_SCRATCH = {
    "host": {"kws_ref_model": 160, "vww_96_int8": 112, "pretrainedResnet_quant": 2304, "ad01_int8": 0},
    "cortex-m4": {"kws_ref_model": 256, "vww_96_int8": 1024, "pretrainedResnet_quant": 2304, "ad01_int8": 0},
}


@pytest.fixture(scope="session")
def cmsis_dir(cmsis_nn_dir) -> Path:
    return cmsis_nn_dir


def _compile(model, out: Path, cmsis_dir: Path, target: str = "host"):
    from edgeq.compiler import compile_model

    return compile_model(model, target=target, backend="cmsis-nn", out_dir=out, cmsis_nn_dir=cmsis_dir)


def _max_scratch(res) -> int:
    return max((row["scratch"] for row in res.memory_report), default=0)


# ---- MLPerf Tiny on the host: bit-exact with TFLM -------------------------------------------------------------------


@pytest.fixture(scope="module", params=list(MODELS))
def built(request, shared_models, cmsis_dir, tmp_path_factory):
    from edgeq.compiler import build_host

    require_tool("gcc", "gcc")
    require_tool("make", "make")
    tflm_runtime()
    name = request.param
    path = shared_models / f"{name}.tflite"
    out = tmp_path_factory.mktemp("cmsis") / name
    res = _compile(path, out, cmsis_dir)
    binary = build_host(out, extra_cflags=CMSIS_SANITIZE)
    return name, path, binary, res


def test_bit_exact_with_tflm(built, shared_models):
    name, path, binary, res = built
    inputs = _sample_inputs(name, shared_models, path) + random_inputs(path, N_RANDOM, seed=zlib.crc32(name.encode()))
    assert_bit_exact(path, binary, inputs)


def test_calls_cmsis_nn_and_ships_only_what_it_needs(built):
    name, path, binary, res = built
    out = res.out_dir
    model_c = (out / "model.c").read_text()
    # every int8 layer of an MLPerf model runs on CMSIS-NN; only float I/O (QUANTIZE/DEQUANTIZE) stays portable
    kernels = {row["op"]: row["kernel"] for row in res.layers if row["kernel"]}
    portable = {op for op, k in kernels.items() if not k.startswith("arm_")}
    assert kernels and portable <= {"QUANTIZE", "DEQUANTIZE"}, kernels
    assert "edgeq_convolve_wrapper_s8(" not in model_c and "arm_" in model_c
    assert (out / "LICENSE-CMSIS-NN.txt").is_file() and (out / "arm_nnfunctions.h").is_file()
    c_files = [f for f in res.files if f.startswith("arm_") and f.endswith(".c")]
    assert 2 <= len(c_files) < 40, c_files
    assert not [f for f in res.files if f.endswith(("_f16.c", "_f32.c"))]
    # no portable kernel sources when every layer runs on CMSIS-NN
    if not portable:
        assert not [f for f in res.files if f.startswith("edgeq_") and f.endswith(".c")]


def test_ram_within_bound_plus_scratch(built):
    name, path, binary, res = built
    assert res.ram_bytes == res.arena_bytes + res.scratch_bytes
    if MODELS[name] is not None:
        assert res.ram_bytes <= MODELS[name] + _max_scratch(res)
    if name in EXPECTED_SCRATCH["host"]:
        assert _max_scratch(res) == EXPECTED_SCRATCH["host"][name]


# ---- cross-compilation ---------------------------------------------------------------------------------------------


def _cross_build(out: Path, target: str, cflags: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """All .c of the output + a main calling edgeq_invoke, -Os, -Wall -Wextra -Werror, --gc-sections."""
    (out / "main_size.c").write_text('#include "model.h"\nint main(void) { return edgeq_invoke(); }\n')
    srcs = [str(p) for p in sorted(out.glob("*.c")) if p.name != "main_host.c"]
    cmd = ["arm-none-eabi-gcc", *ARM_FLAGS[target], "-Os", "-std=c99", "-Wall", "-Wextra", "-Werror",
           "-ffunction-sections", "-fdata-sections", *cflags, *srcs, "-nostartfiles", "-specs=nano.specs",
           "-specs=nosys.specs", "-Wl,--gc-sections", "-Wl,-e,main", "-o", str(out / "fw.elf"), "-lm"]
    return subprocess.run(cmd, capture_output=True, text=True)


@pytest.mark.parametrize("name", [m for m in MODELS])
def test_cortex_m4_werror(shared_models, cmsis_dir, tmp_path, name):
    require_tool("arm-none-eabi-gcc", "gcc-arm-none-eabi libnewlib-arm-none-eabi")
    out = tmp_path / name
    res = _compile(shared_models / f"{name}.tflite", out, cmsis_dir, target="cortex-m4")
    proc = _cross_build(out, "cortex-m4")
    assert proc.returncode == 0, proc.stderr[-3000:]
    if name in EXPECTED_SCRATCH["cortex-m4"]:
        assert _max_scratch(res) == EXPECTED_SCRATCH["cortex-m4"][name]
    if MODELS[name] is not None:
        assert res.ram_bytes <= MODELS[name] + _max_scratch(res)
    size = subprocess.run(["arm-none-eabi-size", str(out / "fw.elf")], capture_output=True, text=True, check=True)
    text, data, bss = map(int, size.stdout.splitlines()[1].split()[:3])
    assert bss >= res.ram_bytes
    if name == "kws_ref_model":
        assert text + data <= 64 * 1024, f"KWS flash {text + data} B > 64 KB"


@pytest.mark.parametrize("target", ["cortex-m0plus", "cortex-m7", "cortex-m55"])
def test_other_cores_werror(shared_models, cmsis_dir, tmp_path, target):
    require_tool("arm-none-eabi-gcc", "gcc-arm-none-eabi libnewlib-arm-none-eabi")
    for name in ("kws_ref_model", "ad01_int8"):
        out = tmp_path / f"{target}-{name}"
        res = _compile(shared_models / f"{name}.tflite", out, cmsis_dir, target=target)
        proc = _cross_build(out, target)
        assert proc.returncode == 0, proc.stderr[-3000:]
        if target == "cortex-m55" and name == "ad01_int8":
            # MVE FULLY_CONNECTED reads precomputed kernel sums: edgeq stores them as const data, not in RAM
            assert "kernel_sums" in (out / "model.c").read_text() and res.scratch_bytes == 0


def test_building_for_another_cmsis_nn_path_is_refused(shared_models, cmsis_dir, tmp_path):
    """Scratch is planned per code path: host (scalar) C built for a DSP core must not compile."""
    require_tool("arm-none-eabi-gcc", "gcc-arm-none-eabi libnewlib-arm-none-eabi")
    out = tmp_path / "kws"
    _compile(shared_models / "kws_ref_model.tflite", out, cmsis_dir, target="host")
    proc = _cross_build(out, "cortex-m4")
    assert proc.returncode != 0 and "compiled for CMSIS-NN's scalar path" in proc.stderr


# ---- user mistakes ---------------------------------------------------------------------------------------------------


def test_no_checkout_is_a_one_line_error(shared_models, tmp_path):
    env = {"EDGEQ_CMSIS_NN_DIR": ""}
    proc = run_cli("compile", shared_models / "kws_ref_model.tflite", "--backend", "cmsis-nn", "-o", tmp_path / "o",
                   env=env)
    assert_user_error(proc, "CMSIS-NN")
    proc = run_cli("compile", shared_models / "kws_ref_model.tflite", "--backend", "cmsis-nn", "--cmsis-nn",
                   tmp_path, "-o", tmp_path / "o", env=env)
    assert_user_error(proc, "not a CMSIS-NN checkout")
    assert not (tmp_path / "o").exists()


def test_avr_is_refused(shared_models, cmsis_dir, tmp_path):
    proc = run_cli("compile", shared_models / "kws_ref_model.tflite", "--backend", "cmsis-nn", "--target", "avr",
                   "--cmsis-nn", cmsis_dir, "-o", tmp_path / "o")
    assert_user_error(proc, "32-bit")


# ---- single-op models through CMSIS-NN's dispatch (strategies shared with test_compiler_ops.py) ---------------------

_counter = itertools.count()


def _settings(n: int):
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="session")
def check_cmsis_op(single_op_model, cmsis_dir, tmp_path_factory):
    from edgeq.compiler import build_host

    require_tool("gcc", "gcc")
    tflm_runtime()
    root = tmp_path_factory.mktemp("cmsis-ops")

    def check(spec: dict, expect_ops: set[str]):
        path = single_op_model(spec)
        out = root / f"m{next(_counter)}"
        res = _compile(path, out, cmsis_dir)
        assert expect_ops <= set(res.op_counts), (expect_ops, res.op_counts)
        binary = build_host(out, extra_cflags=CMSIS_SANITIZE)
        assert_bit_exact(path, binary, random_inputs(path, 6, seed=len(str(spec))))
        return res

    return check


@pytest.mark.tf
@_settings(10)
@given(spec=conv_specs())
def test_conv2d_cmsis(check_cmsis_op, spec):
    check_cmsis_op(spec, {"CONV_2D"})


@pytest.mark.tf
@_settings(10)
@given(spec=dw_specs())
def test_depthwise_conv2d_cmsis(check_cmsis_op, spec):
    check_cmsis_op(spec, {"DEPTHWISE_CONV_2D"})


@pytest.mark.tf
@_settings(6)
@given(spec=dense_specs())
def test_fully_connected_cmsis(check_cmsis_op, spec):
    check_cmsis_op(spec, {"FULLY_CONNECTED"})


@pytest.mark.tf
@_settings(6)
@given(spec=pool_specs())
def test_pooling_cmsis(check_cmsis_op, spec):
    check_cmsis_op(spec, {"AVERAGE_POOL_2D" if spec["op"] == "avgpool" else "MAX_POOL_2D"})


@pytest.mark.tf
@_settings(5)
@given(spec=binary_specs("add"))
def test_add_cmsis(check_cmsis_op, spec):
    check_cmsis_op(spec, {"ADD"})


@pytest.mark.tf
@_settings(4)
@given(spec=binary_specs("mul"))
def test_mul_cmsis(check_cmsis_op, spec):
    check_cmsis_op(spec, {"MUL"})


@pytest.mark.tf
@pytest.mark.parametrize("float_io", [False, True])
def test_small_cnn_chain_cmsis(check_cmsis_op, float_io):
    spec = {"op": "chain", "inputs": [[8, 8, 2]], "float_io": float_io, "range": 1.0, "seed": 5}
    res = check_cmsis_op(spec, {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MAX_POOL_2D", "FULLY_CONNECTED", "SOFTMAX"})
    if float_io:  # QUANTIZE / DEQUANTIZE have no CMSIS-NN kernel: edgeq's portable ones in the same model
        kernels = {row["kernel"] for row in res.layers if row["kernel"]}
        assert any(k.startswith("arm_") for k in kernels)
        assert (res.out_dir / "edgeq_quantize.c").is_file()


# ---- ops whose CMSIS-NN call differs from edgeq's kernel (edgeq/compiler/cmsis_calls.py) -----------------------------


def _kernels(res, op: str) -> set[str]:
    return {row["kernel"] for row in res.layers if row["op"] == op}


@pytest.mark.tf
@_settings(4)
@given(spec=ew_binary_specs())
def test_maximum_minimum_cmsis(check_cmsis_op, spec):
    op = spec["op"].upper()
    res = check_cmsis_op(spec, {op})
    assert _kernels(res, op) == {f"arm_{spec['op']}_s8"}


@pytest.mark.tf
@pytest.mark.parametrize("shape,perm", [([3, 5, 7], [0, 2, 3, 1]), ([4, 6], [0, 2, 1]), ([2, 3, 4], [0, 3, 1, 2]),
                                        ([2, 3, 2, 3], [0, 4, 2, 1, 3])])
def test_transpose_cmsis(check_cmsis_op, shape, perm):
    """arm_transpose_s8 up to 4-D (TFLM's CMSIS-NN TRANSPOSE refuses more); a 5-D one stays on edgeq's copy."""
    res = check_cmsis_op({"op": "transpose", "inputs": [shape], "perm": perm}, {"TRANSPOSE"})
    assert _kernels(res, "TRANSPOSE") == {"arm_transpose_s8" if len(perm) <= 4 else "edgeq_strided_copy"}


@pytest.mark.tf
@pytest.mark.parametrize("shapes,ta,tb,const", [
    ([[2, 3, 4], [2, 5, 4]], False, True, None),  # adj_y: the RHS as CMSIS-NN reads it
    ([[3, 6]], False, False, [2, 6, 4]),  # a constant RHS: transposed at compile time, broadcast over the batch
    ([[2, 3, 4], [2, 4, 5]], False, False, None),  # a non-constant RHS without adj_y: edgeq's kernel
    ([[4, 3], [4, 5]], True, False, None),  # adj_x: edgeq's kernel
])
def test_batch_matmul_cmsis(check_cmsis_op, shapes, ta, tb, const):
    spec = {"op": "matmul", "inputs": shapes, "ranges": [2.0, 3.0][:len(shapes)],
            "centers": [0.5, -0.5][:len(shapes)], "seed": 3, "transpose_a": ta, "transpose_b": tb,
            "input_names": ["a_lhs", "b_rhs"][:len(shapes)]}
    if const:
        spec["const_shape"] = const
    res = check_cmsis_op(spec, {"BATCH_MATMUL"})
    mapped = not ta and (tb or const is not None)
    assert _kernels(res, "BATCH_MATMUL") == {"arm_batch_matmul_s8" if mapped else "edgeq_batch_matmul_s8"}
    if const:  # the constant RHS is in flash once: transposed for arm_batch_matmul_s8, no untransposed copy
        data = (res.out_dir / "model_data.c").read_text()
        assert data.count("_rhs_t[") == 1 and "_operand[" not in data, data[:2000]
        assert res.const_bytes == 2 * 6 * 4


@pytest.mark.tf
def test_pad_cmsis(check_cmsis_op):
    res = check_cmsis_op({"op": "pad", "inputs": [[5, 4, 3]], "padding": [[1, 2], [0, 3]], "seed": 1}, {"PAD"})
    assert _kernels(res, "PAD") == {"arm_pad_s8"}


@pytest.mark.tf
def test_padv2_cmsis(check_cmsis_op):
    res = check_cmsis_op({"op": "padv2", "inputs": [[4, 3, 2]], "padding": [[0, 0], [1, 2], [0, 1], [2, 1]],
                          "value": 0.75, "seed": 3}, {"PADV2"})
    assert _kernels(res, "PADV2") == {"arm_pad_s8"}


@pytest.mark.tf
@pytest.mark.parametrize("spec", [
    # the reverse-conv path (stride <= 2 and more than 16 input channels: arm_convolve_s8 over the upscaled input)
    {"inputs": [[5, 4, 20]], "filters": 6, "kernel": [3, 3], "strides": [2, 2], "padding": "same"},
    {"inputs": [[4, 5, 17]], "filters": 3, "kernel": [2, 3], "strides": [1, 2], "padding": "valid", "act": "relu"},
    # arm_transpose_conv_s8's own path (few channels, or stride 3)
    {"inputs": [[4, 4, 3]], "filters": 5, "kernel": [3, 3], "strides": [2, 2], "padding": "same"},
    {"inputs": [[5, 3, 20]], "filters": 3, "kernel": [4, 4], "strides": [3, 2], "padding": "same", "bias": False},
])
def test_transpose_conv_cmsis(check_cmsis_op, spec):
    res = check_cmsis_op({"op": "transpose_conv", "seed": 2, **spec}, {"TRANSPOSE_CONV"})
    assert _kernels(res, "TRANSPOSE_CONV") == {"arm_transpose_conv_wrapper_s8"}
    row = next(r for r in res.memory_report if r["op"] == "TRANSPOSE_CONV")
    assert row["scratch"] > 0
