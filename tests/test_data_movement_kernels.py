"""The data-movement kernels (edgeq_data_movement.c) on every element size, called directly: the compiler passes
elem_size 1 (int8) and 2 (int16) only, so the other sizes (4: int32 / float, 8: copied byte by byte) are checked here,
against numpy, with the kernels built by the host's gcc into a shared library (ctypes)."""

from __future__ import annotations

import ctypes
import shutil
import subprocess

import numpy as np
import pytest

from edgeq._resources import templates_dir

DTYPES = [np.int8, np.int16, np.int32, np.float32, np.int64]
I32P = ctypes.POINTER(ctypes.c_int32)


class Dims(ctypes.Structure):
    _fields_ = [("n", ctypes.c_int32), ("h", ctypes.c_int32), ("w", ctypes.c_int32), ("c", ctypes.c_int32)]


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is needed to build the kernels")
    src = templates_dir() / "kernels" / "portable"
    so = tmp_path_factory.mktemp("dm") / "libdm.so"
    subprocess.run([gcc, "-O2", "-std=gnu99", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", f"-I{src}",
                    str(src / "edgeq_data_movement.c"), "-o", str(so)], check=True, capture_output=True, text=True)
    return ctypes.CDLL(str(so))


def _i32(values) -> ctypes.Array:
    return (ctypes.c_int32 * len(values))(*[int(v) for v in values])


def _ptr(a: np.ndarray) -> ctypes.c_void_p:
    return ctypes.c_void_p(a.ctypes.data)


def _random(rng, shape, dtype) -> np.ndarray:
    return rng.integers(-100, 100, size=shape).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_strided_copy_transposes_and_reverses(lib, dtype):
    rng = np.random.default_rng(1)
    x = _random(rng, (2, 3, 1, 4, 2, 5), dtype)
    perm = (5, 1, 3, 0, 4, 2)
    want = np.ascontiguousarray(np.transpose(x, perm)[:, ::-1])  # output dim 1 walks input dim 1 backwards
    out = np.zeros(want.shape, want.dtype)  # C order (zeros_like keeps the layout of a fancy-indexed array)
    in_el = [s // x.itemsize for s in x.strides]
    in_strides = [in_el[p] for p in perm]
    in_strides[1] = -in_strides[1]
    offset = (x.shape[1] - 1) * in_el[1] * x.itemsize
    out_strides = [s // out.itemsize for s in out.strides]
    lib.edgeq_strided_copy(ctypes.c_void_p(x.ctypes.data + offset), _i32(in_strides), _ptr(out),
                           _i32(out_strides), _i32(want.shape), x.itemsize)
    assert out.tobytes() == want.tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
def test_concatenation(lib, dtype):
    rng = np.random.default_rng(2)
    parts = [_random(rng, (3, k, 4), dtype) for k in (2, 1, 3)]
    want = np.concatenate(parts, axis=1)
    out = np.zeros(want.shape, want.dtype)  # C order (zeros_like keeps the layout of a fancy-indexed array)
    ptrs = (ctypes.c_void_p * 3)(*[p.ctypes.data for p in parts])
    lib.edgeq_concatenation(ptrs, _i32([p.shape[1] * 4 for p in parts]), 3, 3, _ptr(out), want.itemsize)
    assert out.tobytes() == want.tobytes()


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32])
def test_pad(lib, dtype):
    rng = np.random.default_rng(3)
    x = _random(rng, (1, 3, 2, 3), dtype)
    pre, post = (1, 2, 0, 1), (0, 1, 3, 2)
    want = np.pad(x, list(zip(pre, post)), constant_values=-7)
    out = np.zeros(want.shape, want.dtype)  # C order (zeros_like keeps the layout of a fancy-indexed array)
    status = lib.edgeq_pad(_ptr(x), _ptr(out), -7, ctypes.byref(Dims(*x.shape)), ctypes.byref(Dims(*pre)),
                           ctypes.byref(Dims(*post)), x.itemsize)
    assert status == 0 and out.tobytes() == want.tobytes()


def test_pad_refuses_an_element_size_it_cannot_fill(lib):
    x = np.zeros((1, 1, 1, 1), np.int64)
    out = np.full((1, 1, 1, 3), 5, np.int64)
    status = lib.edgeq_pad(_ptr(x), _ptr(out), 0, ctypes.byref(Dims(1, 1, 1, 1)), ctypes.byref(Dims(0, 0, 0, 1)),
                           ctypes.byref(Dims(0, 0, 0, 1)), 8)
    assert status == -1 and out.tolist() == [[[[5, 5, 5]]]]  # EDGEQ_ARG_ERROR before writing anything


@pytest.mark.parametrize("dtype", DTYPES)
def test_resize_nearest(lib, dtype):
    rng = np.random.default_rng(4)
    x = _random(rng, (2, 3, 4, 3), dtype)
    y_map, x_map = [0, 0, 1, 2, 2], [3, 1, 1, 0, 2, 3]  # repeated rows take the copy-the-previous-row path
    want = x[:, y_map][:, :, x_map]
    out = np.zeros(want.shape, want.dtype)  # C order (zeros_like keeps the layout of a fancy-indexed array)
    lib.edgeq_resize_nearest(_ptr(x), ctypes.byref(Dims(*x.shape)), len(y_map), len(x_map), _i32(y_map),
                             _i32(x_map), _ptr(out), x.itemsize)
    assert out.tobytes() == want.tobytes()
