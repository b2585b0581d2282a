"""Helpers for the compiler tests: compile + build the host program, run it, run TFLM on the same inputs."""

from __future__ import annotations

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
    return outs


def input_spec(model_path: Path) -> tuple[tuple[int, ...], np.dtype, np.dtype]:
    from edgeq.tflite import read_model

    g = read_model(model_path)
    t_in, t_out = g.input_tensors()[0], g.output_tensors()[0]
    return tuple(t_in.shape), np.dtype(t_in.dtype), np.dtype(t_out.dtype)


def random_inputs(model_path: Path, n: int, seed: int = 0) -> list[np.ndarray]:
    """n seeded random inputs in the model's input dtypes (int8: uniform over -128..127; float32: normal, sd 20);
    an array per inference for one-input models, else a tuple of arrays in graph input order."""
    from edgeq.tflite import read_model

    specs = [(tuple(t.shape), np.dtype(t.dtype), t.scale, t.zero_point)
             for t in read_model(model_path).input_tensors()]
    rng = np.random.default_rng(seed)

    def one(shape, dtype, scale, zp):
        if dtype == np.int8:
            return rng.integers(-128, 128, size=shape, dtype=np.int8)
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
