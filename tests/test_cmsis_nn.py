"""CMSIS-NN backend: checkout discovery, the source closure, and the Python scratch-size rules vs the real C getters.

Needs a CMSIS-NN checkout in $EDGEQ_CMSIS_NN_DIR (github.com/ARM-software/CMSIS-NN); skipped without one.
"""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest

from conftest import require_tool
from edgeq.compiler import cmsis_nn as cn
from edgeq.errors import EdgeqError

WRAPPERS = ["arm_convolve_wrapper_s8", "arm_depthwise_conv_wrapper_s8", "arm_fully_connected_s8",
            "arm_fully_connected_per_channel_s8", "arm_avgpool_s8", "arm_max_pool_s8", "arm_softmax_s8",
            "arm_elementwise_add_s8", "arm_elementwise_mul_s8", "arm_vector_sum_s8"]


@pytest.fixture(scope="module")
def cmsis_dir(cmsis_nn_dir) -> Path:
    return cmsis_nn_dir


def test_find_cmsis_nn_errors(tmp_path, monkeypatch):
    monkeypatch.delenv(cn.ENV_VAR, raising=False)
    with pytest.raises(EdgeqError, match="CMSIS-NN checkout"):
        cn.find_cmsis_nn(None)
    with pytest.raises(EdgeqError, match="no such directory"):
        cn.find_cmsis_nn(tmp_path / "nope")
    with pytest.raises(EdgeqError, match="not a CMSIS-NN checkout") as exc:
        cn.find_cmsis_nn(tmp_path)
    assert "\n" not in str(exc.value)


def test_arch_table():
    assert [cn.arch_for(t) for t in ("host", "generic", "avr", "cortex-m0plus", "cortex-m3")] == ["scalar"] * 5
    assert [cn.arch_for(t) for t in ("cortex-m4", "cortex-m4f", "m7", "cortex-m33")] == ["dsp"] * 4
    assert [cn.arch_for(t) for t in ("cortex-m55", "m85")] == ["mve"] * 2


def test_kernel_sums_match_vector_sum():
    w = [1, -2, 3, 127, -128, 5]
    assert cn.kernel_sums(w, rows=2, cols=3, bias=[10, -10], lhs_offset=7) == [10 + 7 * 2, -10 + 7 * 4]
    assert cn.kernel_sums([127] * 4, 1, 4, None, lhs_offset=128, rhs_offset=1) == [128 * (508 + 4)]


# ----------------------------------------------------------------------------------------------------------------


def test_source_closure_links_on_host(cmsis_dir, tmp_path):
    """The copied files are a complete closure: they compile and link (no --gc-sections) on the host."""
    gcc = require_tool("gcc", "gcc")
    files = [f for f in cn.copy_sources(cmsis_dir, WRAPPERS, tmp_path / "cmsis_nn") if f.endswith(".c")]
    assert (tmp_path / "cmsis_nn" / "LICENSE").is_file()
    assert (tmp_path / "cmsis_nn" / "Include" / "arm_nnfunctions.h").is_file()
    assert all(not f.endswith(("_f16.c", "_f32.c")) for f in files)
    assert "Source/ConvolutionFunctions/arm_convolve_wrapper_s8.c" in files
    assert "Source/SoftmaxFunctions/arm_softmax_s8.c" in files
    assert len(files) < 40, files  # not the whole library (113 files)
    main = tmp_path / "main.c"
    main.write_text('#include "arm_nnfunctions.h"\n#include <stdio.h>\nint main(void) {\n'
                    + "".join(f'    printf("%p\\n", (void *)&{f});\n' for f in WRAPPERS)
                    + "    return 0;\n}\n")
    cmd = [gcc, "-std=c99", "-O1", "-Wall", "-I", str(tmp_path / "cmsis_nn" / "Include"), str(main),
           *[str(tmp_path / "cmsis_nn" / f) for f in files], "-o", str(tmp_path / "a.out")]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert subprocess.run([str(tmp_path / "a.out")], capture_output=True).returncode == 0


def test_unknown_function_is_a_user_error(cmsis_dir):
    with pytest.raises(EdgeqError, match="arm_does_not_exist"):
        cn.needed_sources(cmsis_dir, ["arm_does_not_exist"])


# ---------------------------------------------------------------------------------------- buffer sizes vs C


def _sweep(n: int = 700):
    rng = random.Random(1234)
    cases = []
    for i in range(n):
        c_in = rng.choice([1, 2, 3, 4, 8, 12, 16, 27, 32, 64, 65, 124, 125, 200, 256])
        kh, kw = rng.choice([(1, 1), (1, 1), (3, 3), (3, 3), (5, 5), (1, 3), (1, 5), (1, 8), (3, 1), (7, 7),
                             (10, 4), (2, 2)])
        in_h = 1 if rng.random() < 0.35 else rng.choice([2, 5, 7, 16, 25, 49, 96])
        in_w = rng.choice([1, 3, 5, 10, 16, 32, 49, 96])
        sh, sw = rng.choice([(1, 1), (1, 1), (2, 2), (1, 2), (2, 1), (3, 3)])
        dh, dw_ = rng.choice([(1, 1), (1, 1), (1, 1), (2, 2), (1, 2)])
        ph, pw = rng.choice([(0, 0), (0, 0), (1, 1), (2, 2), (0, 1), (3, 2), (1, 0)])
        c_out = rng.choice([1, 2, 4, 8, 16, 64, c_in, c_in * 2])
        ch_mult = rng.choice([1, 1, 2]) if rng.random() < 0.8 else 1
        out_h = max(1, rng.choice([(in_h + 2 * ph - ((kh - 1) * dh + 1)) // sh + 1, in_h, in_h // 2, 1]))
        out_w = max(1, rng.choice([(in_w + 2 * pw - ((kw - 1) * dw_ + 1)) // sw + 1, in_w, in_w // sw, 1,
                                   in_w + 3]))
        n = 1 if rng.random() < 0.9 else 2
        cases.append(dict(n=n, c_in=c_in, kh=kh, kw=kw, in_h=in_h, in_w=in_w, sh=sh, sw=sw, dh=dh, dw=dw_, ph=ph,
                          pw=pw, c_out=c_out, ch_mult=ch_mult, out_h=out_h, out_w=out_w))
    return cases


_C_HARNESS = r"""
#include <stdio.h>
#include "arm_nnfunctions.h"
typedef struct { int n, c_in, kh, kw, in_h, in_w, sh, sw, dh, dw, ph, pw, c_out, ch_mult, out_h, out_w; } shape_t;
static const shape_t cases[] = {
%CASES%
};
int main(void) {
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const shape_t *s = &cases[i];
        cmsis_nn_dims in = {s->n, s->in_h, s->in_w, s->c_in};
        cmsis_nn_dims cf = {s->c_out, s->kh, s->kw, s->c_in};
        cmsis_nn_dims out = {s->n, s->out_h, s->out_w, s->c_out};
        cmsis_nn_conv_params cp = {0};
        cp.stride.w = s->sw; cp.stride.h = s->sh; cp.padding.w = s->pw; cp.padding.h = s->ph;
        cp.dilation.w = s->dw; cp.dilation.h = s->dh;
        cmsis_nn_dw_conv_params dp = {0};
        dp.ch_mult = s->ch_mult; dp.stride = cp.stride; dp.padding = cp.padding; dp.dilation = cp.dilation;
        cmsis_nn_dims df = {1, s->kh, s->kw, s->c_out};
        cmsis_nn_dims fc = {s->c_in * s->kh, 1, 1, s->c_out};
        cmsis_nn_transpose_conv_params tp = {0};
        tp.stride = cp.stride;
        printf("%d %d %d  %d %d %d  %d %d %d  %d %d %d  %d %d %d\n",
               (int)arm_convolve_wrapper_s8_get_buffer_size(&cp, &in, &cf, &out),
               (int)arm_convolve_wrapper_s8_get_buffer_size_dsp(&cp, &in, &cf, &out),
               (int)arm_convolve_wrapper_s8_get_buffer_size_mve(&cp, &in, &cf, &out),
               (int)arm_depthwise_conv_wrapper_s8_get_buffer_size(&dp, &in, &df, &out),
               (int)arm_depthwise_conv_wrapper_s8_get_buffer_size_dsp(&dp, &in, &df, &out),
               (int)arm_depthwise_conv_wrapper_s8_get_buffer_size_mve(&dp, &in, &df, &out),
               (int)arm_fully_connected_s8_get_buffer_size(&fc),
               (int)arm_fully_connected_s8_get_buffer_size_dsp(&fc),
               (int)arm_fully_connected_s8_get_buffer_size_mve(&fc),
               (int)arm_avgpool_s8_get_buffer_size(s->out_w, s->c_in),
               (int)arm_avgpool_s8_get_buffer_size_dsp(s->out_w, s->c_in),
               (int)arm_avgpool_s8_get_buffer_size_mve(s->out_w, s->c_in),
               (int)arm_transpose_conv_s8_get_buffer_size(&tp, &in, &cf, &out),
               (int)arm_transpose_conv_s8_get_buffer_size_mve(&tp, &in, &cf, &out),
               (int)arm_transpose_conv_s8_get_reverse_conv_buffer_size(&tp, &in, &cf));
    }
    return 0;
}
"""


def test_buffer_size_rules_match_cmsis_nn(cmsis_dir, tmp_path):
    """Python mirrors of *_get_buffer_size{,_dsp,_mve} == the C functions (host gcc: the plain ones are scalar)."""
    gcc = require_tool("gcc", "gcc")
    cases = _sweep()
    keys = list(cases[0])
    rows = ",\n".join("{" + ", ".join(str(c[k]) for k in keys) + "}" for c in cases)
    src = tmp_path / "sizes.c"
    src.write_text(_C_HARNESS.replace("%CASES%", rows))
    getters = [p for p in (cmsis_dir / "Source").rglob("*get_buffer_sizes_s8.c")]
    exe = tmp_path / "sizes"
    proc = subprocess.run([gcc, "-std=c99", "-O1", "-I", str(cmsis_dir / "Include"), str(src), *map(str, getters),
                           "-o", str(exe)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    lines = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(lines) == len(cases)
    checked = {"conv": set(), "dw": set()}
    for case, line in zip(cases, lines):
        got = list(map(int, line.split()))
        s = case
        inp = cn.Dims(s["n"], s["in_h"], s["in_w"], s["c_in"])
        cf = cn.Dims(s["c_out"], s["kh"], s["kw"], s["c_in"])
        out = cn.Dims(s["n"], s["out_h"], s["out_w"], s["c_out"])
        cp = cn.ConvParams(cn.Tile(s["sw"], s["sh"]), cn.Tile(s["pw"], s["ph"]), cn.Tile(s["dw"], s["dh"]))
        dp = cn.DwConvParams(s["ch_mult"], cp.stride, cp.padding, cp.dilation)
        df = cn.Dims(1, s["kh"], s["kw"], s["c_out"])
        fc = cn.Dims(s["c_in"] * s["kh"], 1, 1, s["c_out"])
        want = []
        for arch in cn.ARCHES:
            want.append(cn.convolve_wrapper_s8_buffer_size(arch, cp, inp, cf, out))
        for arch in cn.ARCHES:
            want.append(cn.depthwise_conv_wrapper_s8_buffer_size(arch, dp, inp, df, out))
        for arch in cn.ARCHES:
            want.append(cn.fully_connected_s8_buffer_size(arch, fc))
        for arch in cn.ARCHES:
            want.append(cn.avgpool_s8_buffer_size(arch, s["out_w"], s["c_in"]))
        # the plain transpose-conv getter is the scalar and the DSP one (only MVE has its own branch)
        want += [cn.transpose_conv_s8_buffer_size(arch, cp.stride, inp, cf, out) for arch in ("scalar", "mve")]
        assert cn.transpose_conv_s8_buffer_size("dsp", cp.stride, inp, cf, out) == want[-2]
        want.append(cn.transpose_conv_s8_reverse_conv_buffer_size(cp.stride, inp, cf))
        assert got == want, f"{case}: C {got} != Python {want}"
        checked["conv"].add((cn.is_convolve_1x1(cp, inp, cf), cn.is_convolve_1_x_n(cp, inp, cf), bool(got[2])))
        checked["dw"].add((bool(got[4]), bool(got[5])))
        checked.setdefault("tconv", set()).add(cn.transpose_conv_reverses(cp.stride, inp))
    # the sweep exercised every dispatch branch
    assert {(True, False), (False, True), (False, False)} <= {k[:2] for k in checked["conv"]}
    assert {(True, True), (False, True), (False, False)} <= checked["dw"]
    assert checked["tconv"] == {True, False}
