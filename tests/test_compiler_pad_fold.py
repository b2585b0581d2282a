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
        assert "PAD folded into layer" in model_c and "edgeq_pad(" not in model_c
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


#: PADs the cmsis-nn backend keeps (arm_pad_s8) because the CMSIS-NN path would ignore their bottom/right padding
CMSIS_KEPT = {"1x1-stride1-bottom-right", "1x1-stride2-bottom-right", "1xn-height1"}
#: PAD shapes the CMSIS-NN wrapper dispatches to its special paths: 1x1 (fast and strided), 1xN (input height 1),
#: 3x3 depthwise (padding <= 1), the general depthwise / convolution; asymmetric (MobileNet's (0,1),(0,1) before a
#: stride-2 layer) and larger than SAME would give
CMSIS_FOLD_CASES = {
    "1x1-stride1-bottom-right": {"inputs": [[5, 6, 8]], "padding": [[0, 1], [0, 2]], "kernel": [1, 1],
                                 "strides": [1, 1], "filters": 4},
    "1x1-stride2-bottom-right": {"inputs": [[6, 6, 8]], "padding": [[0, 1], [0, 1]], "kernel": [1, 1],
                                 "strides": [2, 2], "filters": 4},
    "1x1-top-left": {"inputs": [[5, 5, 8]], "padding": [[1, 0], [2, 1]], "kernel": [1, 1], "strides": [1, 1],
                     "filters": 4},
    "1xn-height1": {"inputs": [[1, 9, 4]], "padding": [[0, 0], [1, 2]], "kernel": [1, 3], "strides": [1, 1],
                    "filters": 4},
    "dw3x3-mobilenet-stride2": {"inputs": [[7, 7, 8]], "padding": [[0, 1], [0, 1]], "kernel": [3, 3],
                                "strides": [2, 2], "depthwise": True},
    "dw3x3-wide-pads": {"inputs": [[6, 7, 4]], "padding": [[2, 3], [0, 2]], "kernel": [3, 3], "strides": [1, 1],
                        "depthwise": True},
    "dw5x5-asymmetric": {"inputs": [[9, 9, 8]], "padding": [[1, 3], [2, 2]], "kernel": [5, 5], "strides": [2, 2],
                         "depthwise": True},
    "conv3x3-stride2-bottom-right": {"inputs": [[7, 7, 3]], "padding": [[0, 1], [0, 1]], "kernel": [3, 3],
                                     "strides": [2, 2], "filters": 8},
}


@pytest.mark.parametrize("case", sorted(CMSIS_FOLD_CASES))
def test_pad_fold_on_cmsis_nn_is_exact_or_kept(case, single_op_model, tmp_path_factory, cmsis_nn_dir):
    """On the cmsis-nn backend a PAD is folded only where the CMSIS-NN kernel the wrapper picks computes exactly
    what TFLM computes on the padded tensor; elsewhere arm_pad_s8 stays. Either way the outputs equal TFLM's (the
    1x1 cases gave wrong outputs when they were folded)."""
    from edgeq.compiler import build_host, compile_model
    from edgeq.reference import PortableHostReference, TflmReference
    from edgeq.tflite import read_model

    tflm_runtime()
    spec = {"op": "pad_conv", "conv_padding": "valid", "filters": 1, "seed": 5, **CMSIS_FOLD_CASES[case]}
    path = single_op_model(spec)
    assert "PAD" in read_model(path).ops_used
    out = tmp_path_factory.mktemp("cmsis-fold") / "m"
    compile_model(path, target="host", backend="cmsis-nn", cmsis_nn_dir=cmsis_nn_dir, out_dir=out)
    binary = build_host(out)
    model_c = (out / "model.c").read_text()
    folded = "PAD folded into layer" in model_c
    assert folded != ("arm_pad_s8(" in model_c), "a PAD is either folded or run by arm_pad_s8"
    assert folded == (case not in CMSIS_KEPT)
    tflm = TflmReference(path)
    host = PortableHostReference(path, binary=binary)
    rng = np.random.default_rng(7)
    batch = [rng.integers(0, 256, size=tflm.inputs[0].nbytes, dtype=np.uint8).tobytes() for _ in range(3)]
    assert host.run_many(batch) == tflm.run_many(batch), f"folded={folded}"


#: PAD -> pool cases: key -> (spec, folded?). A MAX_POOL is folded when the pad value cannot win a max (the PAD's
#: input comes from a RELU / RELU6) and every window keeps an input cell; never an AVERAGE_POOL (it counts the cell)
POOL_CASES = {
    "relu-maxpool-resnet-stem": ({"conv_act": "relu", "padding": [[1, 1], [1, 1]], "kernel": [3, 3],
                                  "strides": [2, 2]}, True),
    "relu6-maxpool-asymmetric": ({"conv_act": "relu6", "padding": [[0, 1], [1, 0]], "kernel": [2, 3],
                                  "strides": [1, 2]}, True),
    "maxpool-input-below-zero-point": ({"conv_act": None, "padding": [[1, 1], [1, 1]], "kernel": [3, 3],
                                        "strides": [2, 2]}, False),
    "relu-maxpool-all-padding-window": ({"conv_act": "relu", "padding": [[3, 0], [0, 0]], "kernel": [2, 2],
                                         "strides": [2, 2]}, False),
    "relu-avgpool": ({"conv_act": "relu", "padding": [[1, 1], [1, 1]], "kernel": [3, 3], "strides": [2, 2],
                      "pool": "avg"}, False),
}


@pytest.mark.parametrize("backend", ["portable", "cmsis-nn"])
@pytest.mark.parametrize("case", sorted(POOL_CASES))
def test_pad_before_a_pool_folded_only_where_exact(case, backend, single_op_model, tmp_path_factory, cmsis_nn_dir):
    from edgeq.compiler import build_host, compile_model
    from edgeq.reference import PortableHostReference, TflmReference
    from edgeq.tflite import read_model

    tflm_runtime()
    extra, expect_fold = POOL_CASES[case]
    path = single_op_model({"op": "pad_pool", "inputs": [[9, 8, 3]], "filters": 4, "seed": 2, **extra})
    assert "PAD" in read_model(path).ops_used
    out = tmp_path_factory.mktemp("pool-fold") / "m"
    kw = {"backend": backend, "cmsis_nn_dir": cmsis_nn_dir} if backend == "cmsis-nn" else {}
    compile_model(path, target="host", out_dir=out, **kw)
    binary = build_host(out)
    model_c = (out / "model.c").read_text()
    assert ("PAD folded into layer" in model_c) == expect_fold
    tflm, host = TflmReference(path), PortableHostReference(path, binary=binary)
    rng = np.random.default_rng(11)
    batch = [rng.integers(0, 256, size=tflm.inputs[0].nbytes, dtype=np.uint8).tobytes() for _ in range(4)]
    assert host.run_many(batch) == tflm.run_many(batch)
