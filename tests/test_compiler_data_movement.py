"""Data-movement ops (RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR, GATHER, TRANSPOSE, SLICE, STRIDED_SLICE, SPLIT, SPLIT_V,
PACK, UNPACK, DEPTH_TO_SPACE, SPACE_TO_DEPTH): single-op models from the TF converter with hypothesis-drawn shapes,
permutations, slices (negative steps, masks, shrunk axes) and axes; compiled for host under ASan/UBSan and compared
byte for byte with TFLM on every output."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from compiler_util import compile_and_build, single_op_model, tflm_runtime  # noqa: F401

pytestmark = pytest.mark.tf
_counter = itertools.count()


def _settings(n: int):
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    phases=[Phase.explicit, Phase.reuse, Phase.generate],
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="session")
def check_dm(single_op_model, tmp_path_factory):
    """Convert, compile (ASan/UBSan), run 4 random inputs through the host program and TFLM, compare all outputs."""
    root = tmp_path_factory.mktemp("dm")
    tflm_runtime()

    def check(spec: dict, op: str):
        from edgeq.reference import PortableHostReference, TflmReference

        path = single_op_model(spec)
        binary, res = compile_and_build(path, root / f"m{next(_counter)}")
        assert op in res.op_counts, (op, res.op_counts)
        tflm = TflmReference(path)
        host = PortableHostReference(path, binary=binary)
        rng = np.random.default_rng(len(str(spec)))
        n = sum(s.nbytes for s in tflm.inputs)
        batch = [rng.integers(0, 256, size=n, dtype=np.uint8).tobytes() for _ in range(4)]
        assert host.run_many(batch) == tflm.run_many(batch)
        return res

    return check


@st.composite
def shapes(draw, min_rank=2, max_rank=4, max_dim=6, min_dim=1):
    rank = draw(st.integers(min_rank, max_rank))
    return [draw(st.integers(min_dim, max_dim)) for _ in range(rank - 1)]  # without the batch dimension


@_settings(3)
@given(shape=shapes(min_rank=3, max_rank=5, min_dim=2, max_dim=5), data=st.data())
def test_transpose(check_dm, shape, data):
    perm = data.draw(st.permutations(range(len(shape) + 1)))
    assume([p for p in perm if p] != sorted(p for p in perm if p))  # moving only the batch-1 axis is a reshape
    check_dm({"op": "transpose", "inputs": [shape], "perm": list(perm)}, "TRANSPOSE")


def test_transpose_nchw_to_nhwc(check_dm):
    """What a PyTorch export starts with."""
    check_dm({"op": "transpose", "inputs": [[3, 5, 7]], "perm": [0, 2, 3, 1]}, "TRANSPOSE")


@st.composite
def slice_specs(draw):
    shape = draw(shapes(min_rank=2, max_rank=4, max_dim=7))
    slices = [[None, None, None]]
    for d in shape:
        step = draw(st.sampled_from([1, 1, 2, 3, -1, -2]))
        b = draw(st.one_of(st.none(), st.integers(-d, d)))
        e = draw(st.one_of(st.none(), st.integers(-d, d)))
        slices.append([b, e, step])
    return shape, slices


@_settings(4)
@given(spec=slice_specs())
def test_strided_slice(check_dm, spec):
    shape, slices = spec
    x = np.zeros([1] + shape)
    if x[tuple(slice(*a) for a in slices)].size == 0:
        slices = [[None, None, None]] * len(slices)
    if all(a == [None, None, None] for a in slices):
        slices[-1] = [0, 1, 1]  # an identity slice is folded away by the converter
    check_dm({"op": "strided_slice", "inputs": [shape], "slices": slices}, "STRIDED_SLICE")


def test_strided_slice_shrinks_an_axis(check_dm):
    check_dm({"op": "strided_slice", "inputs": [[4, 5, 3]], "slices": [[None, None, None], [1, 2, 1],
                                                                     [None, None, -1]]}, "STRIDED_SLICE")


@_settings(2)
@given(shape=shapes(min_rank=3, max_rank=4, max_dim=6, min_dim=2), data=st.data())
def test_slice(check_dm, shape, data):
    begin = [0] + [data.draw(st.integers(0, d - 1)) for d in shape]
    size = [1] + [data.draw(st.sampled_from([-1, *range(1, d - b + 1)])) for d, b in zip(shape, begin[1:])]
    if all(b == 0 and z in (-1, d) for b, z, d in zip(begin[1:], size[1:], shape)):
        begin[-1] = 1  # not the whole tensor (the converter would drop the op)
    check_dm({"op": "slice", "inputs": [shape], "begin": begin, "size": size}, "SLICE")


@pytest.mark.parametrize("parts,axis,op", [(3, 1, "SPLIT"), ([1, 4], 2, "SPLIT_V")])
def test_split(check_dm, parts, axis, op):
    check_dm({"op": "split", "inputs": [[6, 5, 6]], "parts": parts, "axis": axis}, op)


@pytest.mark.parametrize("axis", [0, -1])
def test_pack(check_dm, axis):
    check_dm({"op": "stack", "inputs": [[3, 4]] * 3, "axis": axis, "ranges": [1.0, 1.0, 1.0]}, "PACK")


@pytest.mark.parametrize("axis", [-1])
def test_unpack(check_dm, axis):
    check_dm({"op": "unstack", "inputs": [[3, 2, 4]], "axis": axis}, "UNPACK")


@pytest.mark.parametrize("op,shape,block", [("depth_to_space", [2, 3, 9], 3), ("space_to_depth", [4, 6, 3], 2)])
def test_depth_space(check_dm, op, shape, block):
    check_dm({"op": op, "inputs": [shape], "block": block}, op.upper())


@st.composite
def resize_specs(draw):
    h, w, c = draw(st.integers(1, 7)), draw(st.integers(1, 7)), draw(st.integers(1, 4))
    size = [draw(st.integers(1, 15)), draw(st.integers(1, 15))]
    mode = draw(st.sampled_from(["v2", "plain", "align", "half"]))
    spec = {"op": "resize_nearest", "inputs": [[h, w, c]], "size": size}
    if mode != "v2":
        spec.update(v1=True, align_corners=mode == "align", half_pixel_centers=mode == "half")
    return spec


@_settings(3)
@given(spec=resize_specs())
def test_resize_nearest_neighbor(check_dm, spec):
    assume(spec["size"] != spec["inputs"][0][:2])  # no resize: the converter drops the op
    check_dm(spec, "RESIZE_NEAREST_NEIGHBOR")


def test_resize_nearest_neighbor_maps_are_tflm_s():
    """Spot values of GetNearestNeighbor (float32): 3 -> 7 plain, align_corners rounds half away from zero."""
    from edgeq.compiler.ops.resize_nearest import nearest_map

    assert nearest_map(3, 7, False, False) == [0, 0, 0, 1, 1, 2, 2]
    assert nearest_map(3, 5, True, False) == [0, 1, 1, 2, 2]  # (i * 0.5) rounded: 0, 0.5 -> 1, 1, 1.5 -> 2, 2
    assert nearest_map(4, 2, False, True) == [1, 3]


@pytest.mark.parametrize("mode", ["plain", "align", "half"])
def test_resize_nearest_neighbor_modes(check_dm, mode):
    check_dm({"op": "resize_nearest", "inputs": [[3, 5, 2]], "size": [7, 4], "v1": True,
              "align_corners": mode == "align", "half_pixel_centers": mode == "half"}, "RESIZE_NEAREST_NEIGHBOR")


@pytest.mark.parametrize("mode", ["v2", "plain", "align", "half"])
@pytest.mark.parametrize("shape,size", [([3, 5, 2], [7, 4])])
def test_resize_bilinear(check_dm, mode, shape, size):
    spec = {"op": "resize_bilinear", "inputs": [shape], "size": size, "range": 3.0}
    if mode != "v2":
        spec.update(v1=True, align_corners=mode == "align", half_pixel_centers=mode == "half")
    check_dm(spec, "RESIZE_BILINEAR")


@pytest.mark.parametrize("shape,indices,axis", [([5, 4, 3], [4, 0, 2, 2], 1), ([6, 3], [1, 3, 5], 1),
                                                ([4, 7], [[0, 6], [3, 3]], 2)])
def test_gather_constant_indices(check_dm, shape, indices, axis):
    check_dm({"op": "gather", "inputs": [shape], "indices": indices, "axis": axis}, "GATHER")
