"""Every int8 MLPerf Tiny model: compile for host (portable kernels), build with -Wall -Wextra -Werror and ASan/UBSan,
run the real sample input (where there is one) and 20 seeded random inputs, compare with TFLM byte for byte."""

from __future__ import annotations

import json
import zlib

import numpy as np
import pytest

from compiler_util import assert_bit_exact, compile_and_build, random_inputs, tflm_runtime

MODELS = {
    # name: op-order bound on activation RAM (docs: max live bytes at any op, no in-place)
    "ad01_int8": 768,
    "kws_ref_model": 16000,
    "vww_96_int8": 55296,
    "str_ww_ref_model": 6656,
    "pretrainedResnet_quant": 49152,
    "pretrainedResnet_large_int8": 122880,
    "model_ToyCar_quant_fullint": None,
}
# RAM (arena + scratch) the in-place convolutions / depthwise / ADD reach: well below the bound (regression guard)
#: ResNet-large: 84,079 B since its convolutions' windows and output stage are planned kernel scratch (about 800 B that
#: used to sit on the C stack, unseen by the plan)
RAM_AT_MOST = {"kws_ref_model": 9000, "str_ww_ref_model": 5000, "pretrainedResnet_quant": 34000,
               "pretrainedResnet_large_int8": 84100}
N_RANDOM = 20


def _sample_inputs(name: str, shared, model_path) -> list[np.ndarray]:
    from edgeq.tflite import read_model

    g = read_model(model_path)
    t = g.input_tensors()[0]
    if name == "kws_ref_model":
        x = np.fromfile(shared / "kws01_sample_mfcc_49x10_int8.bin", dtype=np.int8)
        return [x.reshape(t.shape)]
    if name in ("ad01_int8", "model_ToyCar_quant_fullint"):
        frames = np.fromfile(shared / "ad01_sample_normal_id_01_00000000_hist_librosa.bin", dtype="<f4")
        windows = [frames[k * 128:k * 128 + 640] for k in (0, 1, 100)]  # 5-frame windows, stride 1 frame
        if t.dtype == "float32":
            return [w.reshape(t.shape).astype(np.float32) for w in windows]
        q = [np.clip(np.round(w / t.scale) + t.zero_point, -128, 127).astype(np.int8) for w in windows]
        return [x.reshape(t.shape) for x in q]
    if t.dtype == "int8":  # IC / VWW sample files are not usable (see the README): the extremes instead
        return [np.full(t.shape, -128, np.int8), np.full(t.shape, 127, np.int8), np.zeros(t.shape, np.int8)]
    return []


@pytest.fixture(scope="module", params=list(MODELS))
def built(request, shared_models, tmp_path_factory):
    tflm_runtime()
    name = request.param
    path = shared_models / f"{name}.tflite"
    out = tmp_path_factory.mktemp("mlperf") / name
    binary, res = compile_and_build(path, out)
    return name, path, binary, res


def test_bit_exact_with_tflm(built, shared_models):
    name, path, binary, res = built
    inputs = _sample_inputs(name, shared_models, path) + random_inputs(path, N_RANDOM, seed=zlib.crc32(name.encode()))
    assert len(inputs) >= N_RANDOM + 1
    assert_bit_exact(path, binary, inputs)


def test_kws_sample_is_class_on(built, shared_models):
    name, path, binary, res = built
    if name != "kws_ref_model":
        pytest.skip("KWS only")
    from compiler_util import run_host

    x = np.fromfile(shared_models / "kws01_sample_mfcc_49x10_int8.bin", dtype=np.int8).reshape(1, 49, 10, 1)
    (y,) = run_host(binary, [x], np.int8)
    assert y.tolist() == [-128, -128, -128, -128, -128, 127, -128, -128, -128, -128, -128, -128]  # README


def test_memory_numbers(built):
    name, path, binary, res = built
    d = res.to_dict()
    for key in ("ram_bytes", "arena_bytes", "scratch_bytes", "const_bytes", "ops"):
        assert key in d
    assert d["ram_bytes"] == d["arena_bytes"] + d["scratch_bytes"]
    bound = MODELS[name]
    if bound is not None:
        assert res.op_order_bound == bound
        assert res.ram_bytes <= bound  # never worse than the op-order bound
    if name in RAM_AT_MOST:
        assert res.ram_bytes <= RAM_AT_MOST[name], res.ram_bytes
    json.dumps(d)  # serialisable
    h = (res.out_dir / "model.h").read_text()
    assert f"#define EDGEQ_ARENA_BYTES {res.arena_bytes}" in h
    assert f'#define EDGEQ_MODEL_SHA256 "{res.sha256}"' in h
    assert len(res.memory_report) == res.ops


def test_float_io_model_header(built):
    name, path, binary, res = built
    if name != "model_ToyCar_quant_fullint":
        pytest.skip("float I/O model only")
    h = (res.out_dir / "model.h").read_text()
    assert '#define EDGEQ_INPUT0_DTYPE "float32"' in h
    assert "#define EDGEQ_INPUT0_BYTES 2560" in h
    assert "#define EDGEQ_INPUT0_ZERO_POINT 81" in h
    assert '#define EDGEQ_OUTPUT0_DTYPE "float32"' in h

