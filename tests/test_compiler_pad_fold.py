"""A PAD whose only reader is a CONV_2D / DEPTHWISE_CONV_2D is folded into it (no code, no padded buffer): the
result stays bit-exact with TFLM (which runs the PAD), the PAD's buffer disappears from the plan."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from compiler_util import compile_and_build, single_op_model, tflm_runtime  # noqa: F401

pytestmark = pytest.mark.tf
_counter = itertools.count()


@pytest.fixture(scope="session")
def check_fold(single_op_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("fold")
    tflm_runtime()

    def check(spec: dict, backend: str = "portable", cmsis_nn_dir=None):
        from edgeq.reference import PortableHostReference, TflmReference
        from edgeq.tflite import read_model

        path = single_op_model(spec)
        g = read_model(path)
        assert "PAD" in g.ops_used, g.ops_used  # the converter kept the PAD: there is something to fold
        kw = {"backend": backend, "cmsis_nn_dir": cmsis_nn_dir} if backend != "portable" else {}
        if backend == "portable":
            binary, res = compile_and_build(path, root / f"m{next(_counter)}")
        else:
            from edgeq.compiler import build_host, compile_model

            out = root / f"m{next(_counter)}"
            res = compile_model(path, target="host", out_dir=out, **kw)
            binary = build_host(out)
        model_c = (binary.parent / "model.c").read_text()
        assert "PAD folded into layer" in model_c and "edgeq_pad_s8(" not in model_c
        tflm = TflmReference(path)
        host = PortableHostReference(path, binary=binary)
        rng = np.random.default_rng(len(str(spec)))
        batch = [rng.integers(0, 256, size=tflm.inputs[0].nbytes, dtype=np.uint8).tobytes() for _ in range(4)]
        assert host.run_many(batch) == tflm.run_many(batch)
        return res

    return check


@st.composite
def fold_specs(draw):
    h, w, c = draw(st.integers(2, 8)), draw(st.integers(2, 8)), draw(st.integers(1, 4))
    pads = [[draw(st.integers(0, 3)), draw(st.integers(0, 3))] for _ in range(2)]
    if pads == [[0, 0], [0, 0]]:
        pads[0][1] = 1
    k = [draw(st.integers(1, 3)), draw(st.integers(1, 3))]
    k = [min(k[0], h + sum(pads[0])), min(k[1], w + sum(pads[1]))]
    return {"op": "pad_conv", "inputs": [[h, w, c]], "padding": pads, "kernel": k,
            "strides": [draw(st.integers(1, 2)), draw(st.integers(1, 2))], "filters": draw(st.integers(1, 5)),
            "conv_padding": draw(st.sampled_from(["valid", "same"])), "depthwise": draw(st.booleans()),
            "seed": draw(st.integers(0, 20))}


@settings(max_examples=4, deadline=None, derandomize=True, database=None,
          phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(spec=fold_specs())
def test_pad_folded_into_conv(check_fold, spec):
    check_fold(spec)


def test_folding_saves_the_padded_buffer(check_fold, single_op_model, tmp_path):
    spec = {"op": "pad_conv", "inputs": [[12, 12, 8]], "padding": [[1, 2], [2, 1]], "kernel": [3, 3],
            "strides": [1, 1], "filters": 8, "conv_padding": "valid", "depthwise": True, "seed": 3}
    res = check_fold(spec)
    # the padded 15x15x8 tensor is never allocated: input + output of the depthwise only (in place or not)
    assert res.arena_bytes <= 12 * 12 * 8 + 13 * 13 * 8


def test_pad_folded_with_cmsis_nn(check_fold, cmsis_nn_dir):
    check_fold({"op": "pad_conv", "inputs": [[7, 6, 3]], "padding": [[3, 0], [1, 2]], "kernel": [3, 3],
                "strides": [2, 1], "filters": 4, "conv_padding": "valid", "seed": 1},
               backend="cmsis-nn", cmsis_nn_dir=cmsis_nn_dir)
