"""Kernel parameters as data (edgeq.compiler.cparams): every struct dataclass has exactly the fields of the C struct it
stands for - edgeq_nn.h's for the portable kernels and, where CMSIS-NN has the struct, arm_nn_types.h's - and the one
printer writes C99 designated initializers."""

from __future__ import annotations

import dataclasses
import re

import pytest

import edgeq.compiler.cmsis_calls  # noqa: F401  (CMSIS-NN's structs of the calls whose arguments differ)
import edgeq.compiler.ops  # noqa: F401  (registers the ops' own structs)
from edgeq._resources import templates_dir
from edgeq.compiler.cparams import (Activation, CLiteral, ConstRef, ConvParams, CStruct, Dims, PerChannelQuantParams,
                                    Tile, c_initializer)

_STRUCT = re.compile(r"typedef struct\s*\{(.*?)\}\s*(\w+);", re.S)
_FIELD = re.compile(r"(\w+)\s*(?:\[[^\]]*\])?\s*;")


def _structs(text: str) -> dict[str, list[str]]:
    text = re.sub(r"/\*.*?\*/|//[^\n]*", "", text, flags=re.S)
    return {name: _FIELD.findall(body) for body, name in _STRUCT.findall(text)}


def _all_structs() -> list[type]:
    out, todo = [], list(CStruct.__subclasses__())
    while todo:
        cls = todo.pop()
        out.append(cls)
        todo += cls.__subclasses__()
    return sorted(out, key=lambda c: c.C_TYPE)


def test_fields_match_edgeq_nn_h():
    c = _structs((templates_dir() / "kernels" / "portable" / "edgeq_nn.h").read_text())
    classes = [cls for cls in _all_structs() if cls.__module__ != "edgeq.compiler.cmsis_calls"]
    assert len(classes) >= 15
    for cls in classes:
        assert f"edgeq_{cls.C_TYPE}" in c, f"{cls.__name__}: no edgeq_{cls.C_TYPE} in edgeq_nn.h"
        assert [f.name for f in dataclasses.fields(cls)] == c[f"edgeq_{cls.C_TYPE}"], cls.__name__


def test_fields_match_cmsis_nn(cmsis_nn_dir):
    """The structs of edgeq.compiler.cparams are the ones both kernel sets take, those of edgeq.compiler.cmsis_calls
    CMSIS-NN's own; an op's own struct (in its op module) belongs to a portable kernel only."""
    c = _structs((cmsis_nn_dir / "Include" / "arm_nn_types.h").read_text())
    shared = [cls for cls in _all_structs() if cls.__module__ == "edgeq.compiler.cparams"]
    cmsis_only = [cls for cls in _all_structs() if cls.__module__ == "edgeq.compiler.cmsis_calls"]
    assert {cls.C_TYPE for cls in cmsis_only} == {"transpose_params", "bmm_params", "transpose_conv_params"}
    assert {cls.C_TYPE for cls in shared} == {"tile", "activation", "dims", "context", "conv_params", "dw_conv_params",
                                              "pool_params", "fc_params", "per_channel_quant_params",
                                              "per_tensor_quant_params"}
    for cls in shared + cmsis_only:
        assert f"cmsis_nn_{cls.C_TYPE}" in c, cls.__name__
        assert [f.name for f in dataclasses.fields(cls)] == c[f"cmsis_nn_{cls.C_TYPE}"], cls.__name__


def test_designated_initializer():
    def ref(v):
        return v.text if isinstance(v, CLiteral) else v.name

    conv = ConvParams(input_offset=-83, output_offset=-128, stride=Tile(w=2, h=2), padding=Tile(w=1, h=4),
                      dilation=Tile(w=1, h=1), activation=Activation(min=-128, max=127))
    assert c_initializer(conv, ref) == ("{.input_offset = -83, .output_offset = -128, .stride = {.w = 2, .h = 2}, "
                                        ".padding = {.w = 1, .h = 4}, .dilation = {.w = 1, .h = 1}, "
                                        ".activation = {.min = -128, .max = 127}}")
    q = PerChannelQuantParams(multiplier=ConstRef("edgeq_conv0_mult", "int32_t"),
                              shift=ConstRef("edgeq_conv0_shift", "int32_t"))
    assert c_initializer(q, ref) == "{.multiplier = edgeq_conv0_mult, .shift = edgeq_conv0_shift}"
    assert c_initializer((1, -(2**31), 3), ref) == "{1, (-2147483647 - 1), 3}"
    assert Dims.of((12,)) == Dims(1, 1, 1, 12)
    with pytest.raises(TypeError):
        ConvParams(input_offset=0, output_offset=0, stride=Tile(1, 1), padding=Tile(0, 0),  # no such C field
                   dilation=Tile(1, 1), activation=Activation(-128, 127), filter_offset=0)
