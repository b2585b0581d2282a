"""Refusals that tell the truth, on every model of the corpus (../shared/models/tflite-micro and mlperf-tiny).

* ``edgeq inspect --json`` gives a verdict per runtime (edgeq C, TFLM, neither) with the reasons;
* the static TFLM verdict agrees with the TFLM interpreter itself (it allocates and invokes exactly the models the
  op tables say it runs);
* ``edgeq compile`` refuses the models it cannot run naming the op, its index and the next step, before it looks at
  the number format.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import REPO, assert_user_error, run_cli

TFLM_MICRO = REPO.parent / "shared" / "models" / "tflite-micro"

#: model -> (verdict, what the compile refusal must name; None when edgeq compiles it)
EXPECTED: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "tflite-micro/hello_world_int8.tflite": ("edgeq", None),
    "tflite-micro/micro_speech_quantized.tflite": ("edgeq", None),
    "tflite-micro/person_detect.tflite": ("edgeq", None),
    "tflite-micro/audio_preprocessor_int8.tflite": ("tflm", ("'SignalWindow'", "operator 0", "--runtime tflm",
                                                             "CAST")),
    "tflite-micro/keyword_scrambled_8bit.tflite": ("edgeq", None),
    "tflite-micro/trained_lstm_int8.tflite": ("edgeq", None),
    "tflite-micro/person_detect_vela.tflite": ("none", ("'ethos-u'", "operator 0", "Ethos-U NPU")),
    "mlperf-tiny/ad01_int8.tflite": ("edgeq", None),
    "mlperf-tiny/ad01_fp32.tflite": ("tflm", ("float32",)),
    "mlperf-tiny/kws_ref_model.tflite": ("edgeq", None),
    "mlperf-tiny/kws_ref_model_float32.tflite": ("none", ("dynamic-range",)),
    "mlperf-tiny/model_ToyCar_quant_fullint.tflite": ("edgeq", None),
    "mlperf-tiny/pretrainedResnet.tflite": ("tflm", ("float32",)),
    "mlperf-tiny/pretrainedResnet_quant.tflite": ("edgeq", None),
    "mlperf-tiny/pretrainedResnet_large_int8.tflite": ("edgeq", None),
    "mlperf-tiny/pretrainedResnet_large_float.tflite": ("tflm", ("float32",)),
    "mlperf-tiny/str_ww_ref_model.tflite": ("edgeq", None),
    "mlperf-tiny/vww_96_int8.tflite": ("edgeq", None),
    "mlperf-tiny/vww_96_float.tflite": ("tflm", ("float32",)),
}


@pytest.fixture(scope="session")
def corpus(shared_models) -> Path:
    if not (TFLM_MICRO / "person_detect.tflite").is_file():
        pytest.skip(f"tflite-micro models not found in {TFLM_MICRO}")
    return shared_models.parent


def test_corpus_is_covered(corpus):
    """Every model of the corpus has an expectation here (a new model must be added on purpose)."""
    found = {f"{p.parent.name}/{p.name}" for d in ("tflite-micro", "mlperf-tiny") for p in (corpus / d).glob("*.tflite")}
    assert found == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_inspect_verdict(corpus, name):
    verdict, needles = EXPECTED[name]
    proc = run_cli("inspect", corpus / name, "--json")
    assert proc.returncode == 0, proc.stderr
    mcu = json.loads(proc.stdout)["mcu"]
    assert mcu["verdict"] == verdict
    assert mcu["ok"] == (verdict != "none")
    assert mcu["runtimes"]["edgeq"]["ok"] == (verdict == "edgeq")
    assert mcu["runtimes"]["tflm"]["ok"] == (verdict != "none")
    if verdict == "edgeq":
        assert mcu["runtimes"]["edgeq"]["backends"] == ["portable", "cmsis-nn"]
    else:
        first = mcu["runtimes"]["edgeq"]["reasons"][0]["message"]
        for n in needles[:2]:
            assert n.lower() in first.lower(), (n, first)
    if verdict == "none":
        assert mcu["runtimes"]["tflm"]["reasons"], "TFLM's refusal must say why"
    text = run_cli("inspect", corpus / name)
    assert text.returncode == 0
    assert "edgeq C (portable, cmsis-nn): " + ("runs it" if verdict == "edgeq" else "cannot run it") in text.stdout
    assert "TFLM: " + ("cannot run it" if verdict == "none" else "runs it") in text.stdout
    strict = run_cli("inspect", corpus / name, "--strict")
    assert strict.returncode == (1 if verdict == "none" else 0)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_tflm_verdict_matches_the_interpreter(corpus, name):
    """The static TFLM verdict (op tables + number format) is what the TFLM interpreter does with the model."""
    import numpy as np

    runtime = pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
    from edgeq.tflite import read_model
    from edgeq.tflite.check import runtime_verdicts

    g = read_model(corpus / name)
    try:
        it = runtime.Interpreter.from_file(str(corpus / name), arena_size=4 << 20)
        for i, t in enumerate(g.input_tensors()):
            it.set_input(np.zeros(t.shape, dtype=np.dtype(t.dtype)), i)
        it.invoke()
        runs = True
    except RuntimeError:
        runs = False
    assert runtime_verdicts(g)["tflm"]["ok"] == runs


@pytest.mark.parametrize("name", sorted(n for n, (_, needles) in EXPECTED.items() if needles))
def test_compile_refusal_names_the_op(corpus, name, tmp_path):
    _, needles = EXPECTED[name]
    proc = run_cli("compile", corpus / name, "-o", "out", cwd=tmp_path)
    assert_user_error(proc, *needles)
    assert not any(tmp_path.iterdir()), list(tmp_path.iterdir())


def test_inspect_op_table_is_the_compiler_s():
    """inspect reads edgeq's op list without importing the compiler (no numpy): it must be the compiler's."""
    from edgeq.compiler.ops import LAYERS
    from edgeq.tflite.check import MCU_SUPPORTED_OPS

    assert set(MCU_SUPPORTED_OPS) == set(LAYERS)
