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
                                    Tile, c_call_lines, c_declaration, c_initializer)

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
                                              "per_tensor_quant_params", "bias_data"}
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


# ---- kernel call arguments ---------------------------------------------------------------------------------------

_PROTO = re.compile(r"\b(\w+)\s*\(([^()]*)\)\s*;")


def _prototypes(text: str) -> dict[str, list[str]]:
    """function name -> its parameter names, from a C header's prototypes."""
    text = re.sub(r"/\*.*?\*/|//[^\n]*", "", text, flags=re.S)
    out = {}
    for name, params in _PROTO.findall(text):
        parts = [p.strip() for p in params.split(",") if p.strip() not in ("", "void")]
        out[name] = [re.search(r"(\w+)\s*(?:\[[^\]]*\])?$", p).group(1) for p in parts]
    return out


def _kernel_calls() -> list[tuple[str, list[str], str]]:
    """Every ``KernelCall.make(...)`` in edgeq/compiler/ops: (kernel name, argument names in order, where), the
    kernel name resolved through the op classes' ``KERNEL`` / ``KIND`` and ``**self.kernel_args()``."""
    import ast
    from pathlib import Path

    ops_dir = Path(edgeq.compiler.ops.__file__).parent
    classes: dict[str, dict] = {}
    calls = []
    for path in sorted(ops_dir.glob("*.py")):
        for cls in ast.parse(path.read_text()).body:
            if not isinstance(cls, ast.ClassDef):
                continue
            info = {"bases": [ast.unparse(b) for b in cls.bases], "attrs": {}, "kernel_args": None}
            for node in cls.body:
                if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.value, ast.Constant)
                        and isinstance(node.targets[0], ast.Name)):
                    info["attrs"][node.targets[0].id] = node.value.value
                if isinstance(node, ast.FunctionDef) and node.name == "kernel_args":
                    ret = [n.value for n in ast.walk(node) if isinstance(n, ast.Return)]
                    info["kernel_args"] = [k.arg for k in ret[0].keywords] if ret else None
                for call in ast.walk(node):
                    if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                            and call.func.attr == "make" and ast.unparse(call.func.value) == "KernelCall"):
                        calls.append((cls.name, call, f"{path.name}:{call.lineno}"))
            classes[cls.name] = info

    def family(name: str, inherited: dict) -> list[dict]:  # the class and every op class derived from it
        info = classes[name]
        merged = {"attrs": {**inherited.get("attrs", {}), **info["attrs"]},
                  "kernel_args": info["kernel_args"] or inherited.get("kernel_args")}
        out = [merged]
        for other, o in classes.items():
            if name in o["bases"]:
                out += family(other, merged)
        return out

    resolved = []
    for cls, call, where in calls:
        for info in family(cls, {}):
            attrs = info["attrs"]
            k = call.args[0]
            if isinstance(k, ast.Constant):
                names = [k.value]
            elif isinstance(k, ast.IfExp) and "{suffix}" in ast.unparse(k):  # the int8 and int16 kernels
                names = [ast.unparse(x)[2:-1].replace("{suffix}", s) for x in (k.body, k.orelse) for s in ("s8", "s16")]
            elif isinstance(k, ast.IfExp):
                names = [k.body.value, k.orelse.value]
            elif ast.unparse(k) == "self.KERNEL":
                names = [attrs.get("KERNEL")]
            elif isinstance(k, ast.JoinedStr) and "SUFFIX[" in ast.unparse(k):  # both: an int8 and an int16 kernel
                text = ast.unparse(k)[2:-1]
                for attr in ("KIND", "KERNEL"):  # "" on an abstract base class: no kernel
                    text = text.replace("{self.%s}" % attr, attrs.get(attr) or "{?}")
                stem = re.sub(r"\{SUFFIX\[[^]]*\]\}", "{}", text)
                names = [None] if "{?}" in stem or "{self." in stem else [stem.format(s) for s in ("s8", "s16")]
            elif isinstance(k, ast.JoinedStr) and "self.KIND" in ast.unparse(k):
                kind = attrs.get("KIND")  # "" on the abstract base class
                names = [ast.unparse(k)[2:-1].replace("{self.KIND}", kind) if kind else None]
            elif isinstance(k, ast.JoinedStr) and ast.unparse(k).startswith('f"requantize_'):
                from edgeq.compiler.ops.quantize import _INT_REQUANTIZE

                names = sorted({f"requantize_{t}" for t in _INT_REQUANTIZE.values()} | {"requantize_s8"})
            else:
                names = [None]  # conv.py's kernel, chosen from the layer's shapes (its only scalars are structs')
            args = []
            for kw in call.keywords:
                if kw.arg in ("status", "locals"):
                    continue
                if kw.arg is None and ast.unparse(kw.value) == "args":
                    args += info["kernel_args"] or ["?"]
                else:
                    args.append(kw.arg or "?")
            resolved += [(n, args, where) for n in names if n]
    return sorted(set((n, tuple(a), w) for n, a, w in resolved))


def test_kernel_argument_names_match_edgeq_nn_h():
    """A call passing numbers is printed one argument per line, each named after the kernel's parameter: the
    argument names are the prototype's (edgeq_nn.h), in its order."""
    protos = _prototypes((templates_dir() / "kernels" / "portable" / "edgeq_nn.h").read_text())
    calls = _kernel_calls()
    assert len(calls) >= 30
    for kernel, args, where in calls:
        assert f"edgeq_{kernel}" in protos, f"{where}: no edgeq_{kernel} in edgeq_nn.h"
        assert list(args) == protos[f"edgeq_{kernel}"], f"{where}: {kernel}"


def test_kernel_argument_names_match_cmsis_nn(cmsis_nn_dir):
    """The calls the cmsis-nn backend sends to CMSIS-NN under the same arguments name them as arm_nnfunctions.h."""
    from edgeq.compiler.backend_cmsis import CMSIS_FUNCS

    import ast
    from pathlib import Path

    protos = _prototypes((cmsis_nn_dir / "Include" / "arm_nnfunctions.h").read_text())
    checked = 0
    for kernel, args, where in _kernel_calls():
        if kernel in CMSIS_FUNCS:
            assert list(args) == protos[CMSIS_FUNCS[kernel]], f"{where}: {CMSIS_FUNCS[kernel]}"
            checked += 1
    assert checked >= 6
    # and the calls edgeq renders itself for CMSIS-NN functions whose arguments differ (edgeq/compiler/cmsis_calls.py)
    path = Path(edgeq.compiler.cmsis_calls.__file__)
    own = [c for c in ast.walk(ast.parse(path.read_text())) if isinstance(c, ast.Call)
           and isinstance(c.func, ast.Attribute) and c.func.attr == "make"]
    assert len(own) >= 4
    for call in own:
        k = call.args[0]
        names = [k.body.value, k.orelse.value] if isinstance(k, ast.IfExp) else [k.value]
        args = [kw.arg for kw in call.keywords if kw.arg not in ("status", "locals")]
        for name in names:
            assert args == protos[CMSIS_FUNCS.get(name, f"arm_{name}")], f"{path.name}:{call.lineno}: {name}"


def test_long_lines_wrap():
    def ref(v):
        return v.name

    conv = ConvParams(input_offset=-83, output_offset=-128, stride=Tile(w=2, h=2), padding=Tile(w=1, h=4),
                      dilation=Tile(w=1, h=1), activation=Activation(min=-128, max=127))
    head = "const edgeq_conv_params conv_params"
    lines = c_declaration(head, conv, ref, 102)
    assert lines == ["const edgeq_conv_params conv_params = {",
                     "    .input_offset  = -83,",
                     "    .output_offset = -128,",
                     "    .stride        = {.w = 2, .h = 2},",
                     "    .padding       = {.w = 1, .h = 4},",
                     "    .dilation      = {.w = 1, .h = 1},",
                     "    .activation    = {.min = -128, .max = 127},",
                     "};"]
    assert c_declaration(head, conv, ref, 300) == [f"{head} = {c_initializer(conv, ref)};"]
    args = [f"argument_{k}" for k in range(12)]
    lines = c_call_lines("status = edgeq_kernel", args, 60)
    assert all(len(ln) <= 60 for ln in lines) and len(lines) > 2
    assert " ".join(ln.strip() for ln in lines) == f"status = edgeq_kernel({', '.join(args)});"
    assert all(ln.startswith(" " * len("status = edgeq_kernel(")) for ln in lines[1:])
