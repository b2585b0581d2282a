"""The CMSIS-NN backend's Python side: find the user's checkout, size kernel scratch per target, copy the sources.

CMSIS-NN (Apache-2.0, github.com/ARM-software/CMSIS-NN) is in no package registry: the user passes ``--cmsis-nn DIR``
or sets ``EDGEQ_CMSIS_NN_DIR`` to a checkout. edgeq never ships or fetches it; ``edgeq compile --backend cmsis-nn``
copies ``Include/`` and exactly the ``Source/**.c`` files the called functions need (closure over the call graph,
all preprocessor branches) plus CMSIS-NN's LICENSE into ``<out>/cmsis_nn/``.

Scratch sizes: the ``*_get_buffer_size`` functions of CMSIS-NN depend on the macros of the translation unit that
calls them (ARM_MATH_DSP / ARM_MATH_MVEI, the compiler), so a host-side generator cannot call them for the target.
The functions below mirror the C ones for each architecture:

* ``"scalar"``: plain C (host, Cortex-M0/M0+/M3, generic, AVR)  -> ``arm_*_get_buffer_size`` built without DSP/MVE
* ``"dsp"``: Cortex-M4/M7/M33/M35P (DSP extension)                -> ``arm_*_get_buffer_size_dsp``
* ``"mve"``: Cortex-M55/M85 (Helium)                              -> ``arm_*_get_buffer_size_mve``

and tests/test_cmsis_nn.py checks them against the real C functions of the checkout on a sweep of shapes. They
assume GCC (or clang); with armclang the 1x1 fast conv would ask for more, which is why the generated code passes
``ctx.buf = NULL`` to any call whose planned scratch is 0 (CMSIS-NN then takes its unbuffered path).

Nothing heavy is imported here (no numpy).
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from edgeq.errors import EdgeqError, ToolchainError

ENV_VAR = "EDGEQ_CMSIS_NN_DIR"
ARCHES = ("scalar", "dsp", "mve")

# ----------------------------------------------------------------------------------------------------------------
# the checkout


def find_cmsis_nn(path: str | os.PathLike | None = None) -> Path:
    """The CMSIS-NN checkout: ``path`` (``--cmsis-nn``), else ``$EDGEQ_CMSIS_NN_DIR``; checked, or EdgeqError."""
    raw = path if path not in (None, "") else os.environ.get(ENV_VAR)
    if not raw:
        raise ToolchainError(
            "the cmsis-nn backend needs a CMSIS-NN checkout", where="--backend cmsis-nn",
            hint=f"git clone https://github.com/ARM-software/CMSIS-NN and pass --cmsis-nn DIR or set {ENV_VAR}")
    root = Path(raw).expanduser()
    if not root.is_dir():
        raise ToolchainError("no such directory", where=str(root),
                             hint=f"--cmsis-nn / {ENV_VAR} must name a CMSIS-NN checkout")
    # accept the repository root, or a folder that contains it (e.g. the Arduino library's third_party/cmsis_nn)
    for cand in (root, root / "CMSIS-NN", root / "cmsis_nn", root / "cmsis-nn"):
        if (cand / "Include" / "arm_nnfunctions.h").is_file() and (cand / "Source").is_dir():
            return cand.resolve()
    raise ToolchainError("not a CMSIS-NN checkout (no Include/arm_nnfunctions.h and Source/)", where=str(root),
                         hint="point --cmsis-nn / EDGEQ_CMSIS_NN_DIR at the root of ARM-software/CMSIS-NN")


def cmsis_nn_version(root: Path) -> str:
    """``V.19.1.0 (27 March 2026)`` from arm_nnfunctions.h, plus the git commit when the checkout has one."""
    text = (root / "Include" / "arm_nnfunctions.h").read_text(errors="replace")[:4000]
    rev = re.search(r"\$Revision:\s*(\S+)", text)
    date = re.search(r"\$Date:\s*([^\n*]+)", text)
    out = f"{rev.group(1) if rev else '?'} ({date.group(1).strip() if date else '?'})"
    head = root / ".git" / "HEAD"
    try:
        ref = head.read_text().strip()
        if ref.startswith("ref: "):
            ref = (root / ".git" / ref[5:]).read_text().strip()
        out += f" git {ref[:12]}"
    except OSError:
        pass
    return out


# ----------------------------------------------------------------------------------------------------------------
# target -> CMSIS-NN code path

_MVE_CORES = ("cortex-m55", "cortex-m85", "m55", "m85")
_DSP_CORES = ("cortex-m4", "cortex-m7", "cortex-m33", "cortex-m35p", "m4", "m7", "m33", "m35p")


def arch_for(core: str) -> str:
    """``"scalar"`` / ``"dsp"`` / ``"mve"`` for a target or core name (``host``, ``cortex-m4``, ``m55``, ``avr``...)."""
    c = core.lower().strip()
    c = c.replace("cortex_m", "cortex-m")
    if c in _MVE_CORES or c.startswith(("cortex-m55", "cortex-m85")):
        return "mve"
    if c in _DSP_CORES or c.startswith(("cortex-m4", "cortex-m7", "cortex-m33", "cortex-m35")):
        return "dsp"
    return "scalar"


# ----------------------------------------------------------------------------------------------------------------
# the structs, as in arm_nn_types.h


@dataclass(frozen=True)
class Dims:
    n: int
    h: int
    w: int
    c: int


@dataclass(frozen=True)
class Tile:
    w: int
    h: int


@dataclass(frozen=True)
class ConvParams:
    stride: Tile
    padding: Tile
    dilation: Tile = Tile(1, 1)


@dataclass(frozen=True)
class DwConvParams:
    ch_mult: int
    stride: Tile
    padding: Tile
    dilation: Tile = Tile(1, 1)


def _cdiv(a: int, b: int) -> int:  # C integer division (truncates toward zero)
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _cmod(a: int, b: int) -> int:
    return a - b * _cdiv(a, b)


def _check_arch(arch: str) -> None:
    if arch not in ARCHES:
        raise ValueError(f"arch must be one of {ARCHES}, not {arch!r}")


# constants from arm_nnsupportfunctions.h (GCC/clang values)
CH_IN_BLOCK_MVE = 124
CONVERT_DW_CONV_WITH_ONE_INPUT_CH_AND_OUTPUT_CH_ABOVE_THRESHOLD = 1  # 8 with armclang


def is_convolve_1x1(conv: ConvParams, inp: Dims, flt: Dims) -> bool:
    return (conv.padding.w == 0 and conv.padding.h == 0 and flt.w == 1 and flt.h == 1 and conv.dilation.w == 1
            and conv.dilation.h == 1 and inp.c == flt.c)


def is_convolve_1x1_fast(conv: ConvParams) -> bool:
    return conv.stride.w == 1 and conv.stride.h == 1


def is_convolve_1_x_n(conv: ConvParams, inp: Dims, flt: Dims) -> bool:
    return (inp.h == 1 and conv.dilation.w == 1 and flt.h == 1 and _cmod(conv.stride.w * inp.c, 4) == 0
            and inp.c == flt.c)


def convolve_s8_buffer_size(arch: str, inp: Dims, flt: Dims) -> int:
    _check_arch(arch)
    if arch == "mve":
        col = (inp.c * flt.w * flt.h + 15) // 16
        return 4 * col * 16
    rhs_cols = flt.w * flt.h * inp.c
    rem = _cmod(rhs_cols, 4)
    aligned = rhs_cols + 4 - rem if rem else rhs_cols
    return 2 * aligned * 2


#: arm_nnsupportfunctions.h: input channels above which a stride <= 2 transpose convolution runs as a convolution
REVERSE_TCOL_EFFICIENT_THRESHOLD = 16


def transpose_conv_reverses(stride: Tile, inp: Dims) -> bool:
    """Does arm_transpose_conv_wrapper_s8 run this transpose convolution as arm_convolve_s8 over the upscaled input
    with the filter reversed (its "reverse conv" path)?"""
    return stride.w <= 2 and stride.h <= 2 and inp.c > REVERSE_TCOL_EFFICIENT_THRESHOLD


def transpose_conv_s8_buffer_size(arch: str, stride: Tile, inp: Dims, flt: Dims, out: Dims) -> int:
    """arm_transpose_conv_s8_get_buffer_size (scalar and DSP) / _get_buffer_size_mve: the ``ctx`` buffer."""
    _check_arch(arch)
    if transpose_conv_reverses(stride, inp):
        return convolve_s8_buffer_size(arch, Dims(inp.n, inp.h * stride.h, inp.w * stride.w, inp.c), flt)
    buf_x = ((inp.w - 1) * stride.w + max(flt.w, stride.h)) * out.c
    return buf_x * max(flt.h, stride.h) * 4


def transpose_conv_s8_reverse_conv_buffer_size(stride: Tile, inp: Dims, flt: Dims) -> int:
    """arm_transpose_conv_s8_get_reverse_conv_buffer_size: the reversed filter (``output_ctx``), every path."""
    return inp.c * flt.w * flt.h * flt.n if transpose_conv_reverses(stride, inp) else 0


def _convolve_1_x_n_s8_buffer_size_mve(conv: ConvParams, inp: Dims, flt: Dims, out: Dims) -> int:
    input_x, pad_x, kernel_x, output_x, stride_x = inp.w, conv.padding.w, flt.w, out.w, conv.stride.w
    total_pad = (output_x - 1) * stride_x + kernel_x - input_x
    asym_pad = _cmod(total_pad, 2)
    right_pad_num = max(1, _cdiv(pad_x + asym_pad + stride_x - 1, stride_x)) if pad_x + asym_pad != 0 else 0
    left_pad_num = max(1, _cdiv(pad_x + stride_x - 1, stride_x)) if pad_x != 0 else 0
    no_pad_num = max(output_x - (right_pad_num + left_pad_num), 0)
    if right_pad_num + no_pad_num + left_pad_num != output_x:
        return convolve_s8_buffer_size("mve", inp, flt)
    pad_size_left = pad_x * inp.c
    pad_size_right = right_pad_num * inp.c if asym_pad else pad_size_left
    num_elem_left = kernel_x * inp.c
    num_elem_right = num_elem_left - inp.c
    return max(num_elem_left + pad_size_left, num_elem_right + pad_size_right)


def convolve_wrapper_s8_buffer_size(arch: str, conv: ConvParams, inp: Dims, flt: Dims, out: Dims,
                                    *, compiler: str = "gcc") -> int:
    """arm_convolve_wrapper_s8_get_buffer_size{,_dsp,_mve}. ``flt`` = [C_OUT, KH, KW, C_IN] (n is not read)."""
    _check_arch(arch)
    if is_convolve_1x1(conv, inp, flt):
        if is_convolve_1x1_fast(conv) and arch == "dsp" and compiler == "armclang":
            return 2 * inp.c * 2
        return 0
    if is_convolve_1_x_n(conv, inp, flt):
        if arch == "mve":
            return _convolve_1_x_n_s8_buffer_size_mve(conv, inp, flt, out)
        return convolve_s8_buffer_size("scalar", inp, flt)
    return convolve_s8_buffer_size(arch, inp, flt)


def depthwise_conv_s8_opt_buffer_size(arch: str, inp: Dims, flt: Dims) -> int:
    _check_arch(arch)
    if arch == "mve":
        return 4 * CH_IN_BLOCK_MVE * flt.w * flt.h
    if arch == "dsp":
        return inp.c * flt.w * flt.h * 2
    return 0


def depthwise_conv_wrapper_s8_buffer_size(arch: str, dw: DwConvParams, inp: Dims, flt: Dims, out: Dims) -> int:
    """arm_depthwise_conv_wrapper_s8_get_buffer_size (scalar) / _dsp / _mve. ``flt`` = [1, KH, KW, C_OUT]."""
    _check_arch(arch)
    plain = inp.c == out.c and inp.n == 1 and dw.dilation.w == 1 and dw.dilation.h == 1
    if arch == "mve":
        size = depthwise_conv_s8_opt_buffer_size("mve", inp, flt) if plain else 0
        if inp.c == 1 and out.c > CONVERT_DW_CONV_WITH_ONE_INPUT_CH_AND_OUTPUT_CH_ABOVE_THRESHOLD:
            conv_flt = Dims(flt.c, flt.h, flt.w, flt.n)
            conv = ConvParams(dw.stride, dw.padding, dw.dilation)
            to_conv = convolve_wrapper_s8_buffer_size("mve", conv, inp, conv_flt, out) + flt.c * flt.h * flt.w * flt.n
            size = max(size, to_conv)
        return size
    if not plain:
        return 0
    if flt.w == 3 and flt.h == 3 and dw.padding.h <= 1 and dw.padding.w <= 1:
        return 0
    return depthwise_conv_s8_opt_buffer_size(arch, inp, flt)


def fully_connected_s8_buffer_size(arch: str, flt: Dims) -> int:
    """arm_fully_connected_s8_get_buffer_size{,_dsp,_mve}: the precomputed kernel sums (MVE only)."""
    _check_arch(arch)
    return flt.c * 4 if arch == "mve" else 0


def avgpool_s8_buffer_size(arch: str, out_w: int, ch: int) -> int:
    """arm_avgpool_s8_get_buffer_size{,_dsp,_mve}(dim_dst_width, ch_src)."""
    _check_arch(arch)
    return ch * 4 if arch == "dsp" else 0


def avgpool_s16_buffer_size(arch: str, out_w: int, ch: int) -> int:
    """arm_avgpool_s16_get_buffer_size{,_dsp,_mve}(dim_dst_width, ch_src): an int32 sum per channel on DSP."""
    _check_arch(arch)
    return ch * 4 if arch == "dsp" else 0


def kernel_sums(weights: Iterable[int], rows: int, cols: int, bias: Iterable[int] | None, lhs_offset: int,
                rhs_offset: int = 0) -> list[int]:
    """What ``arm_vector_sum_s8(buf, cols, rows, weights, lhs_offset, rhs_offset, bias)`` writes (int32 wrap-around).

    The MVE FULLY_CONNECTED kernel reads these from ``ctx->buf``; edgeq computes them at compile time into const
    data instead of TFLM's Prepare-time arena copy (same numbers, no RAM)."""
    w = list(weights)
    b = list(bias) if bias is not None else [0] * rows
    out = []
    for r in range(rows):
        s = sum(w[r * cols:(r + 1) * cols])
        if rhs_offset:
            s += cols * rhs_offset
        v = b[r] + s * lhs_offset
        out.append(((v + 2**31) % 2**32) - 2**31)
    return out


# ----------------------------------------------------------------------------------------------------------------
# which files: the call-graph closure

_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_STRING = re.compile(r'"(?:\\.|[^"\\])*"')
_IDENT = re.compile(r"\b[A-Za-z_]\w*\b")
# a definition at column 0: return type ... name( ... ) {   (clang-format style of CMSIS-NN)
_FUNC_DEF = re.compile(r"^(?!static\b)(?!typedef\b)[A-Za-z_][\w \t\*]*?\b(arm_\w+)\s*\(([^;{}]*?)\)\s*\{", re.M)
_STATIC_DEF = re.compile(r"^(?:static\b|__STATIC_\w+)[\w \t\*]*?\b(\w+)\s*\([^;{}]*?\)\s*\{", re.M)
_DATA_DEF = re.compile(r"^(?!static\b)(?:const\s+)?(?:u?int\d+_t|q\d+_t|float|int)\s+(\w+)\s*\[[^\]]*\]\s*=", re.M)


def _strip(text: str) -> str:
    return _STRING.sub('""', _COMMENT.sub(" ", text))


def _is_float_file(p: Path) -> bool:
    return bool(re.search(r"_(f16|f32|flt)\.c$", p.name))


def _match_brace(text: str, open_pos: int) -> int:
    """Index just past the ``}`` matching the ``{`` at ``open_pos``."""
    depth = 0
    for i in range(open_pos, len(text)):
        ch = text[i]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    return len(text)


@dataclass
class _Index:
    defines: dict[str, Path]  # global symbol -> file
    refs: dict[Path, set[str]]  # file -> identifiers it uses
    inline_refs: dict[str, set[str]]  # header inline function -> identifiers it uses


_INDEX_CACHE: dict[Path, _Index] = {}


def _index(root: Path) -> _Index:
    if root in _INDEX_CACHE:
        return _INDEX_CACHE[root]
    defines: dict[str, Path] = {}
    refs: dict[Path, set[str]] = {}
    for p in sorted((root / "Source").rglob("*.c")):
        if _is_float_file(p):
            continue
        text = _strip(p.read_text(errors="replace"))
        for m in _FUNC_DEF.finditer(text):
            defines.setdefault(m.group(1), p)
        for m in _DATA_DEF.finditer(text):
            defines.setdefault(m.group(1), p)
        refs[p] = set(_IDENT.findall(text))
    inline_refs: dict[str, set[str]] = {}
    for h in sorted((root / "Include").rglob("*.h")):
        text = _strip(h.read_text(errors="replace"))
        for m in _STATIC_DEF.finditer(text):
            body_end = _match_brace(text, m.end() - 1)
            inline_refs[m.group(1)] = set(_IDENT.findall(text[m.start():body_end]))
    idx = _Index(defines, refs, inline_refs)
    _INDEX_CACHE[root] = idx
    return idx


def needed_sources(root: Path, functions: Iterable[str]) -> list[Path]:
    """The Source/**.c files (absolute paths, sorted) that define ``functions`` and everything they reference,
    transitively - through other .c files and through the static inline helpers of Include/*.h."""
    idx = _index(root)
    files: set[Path] = set()
    seen: set[str] = set()
    todo = list(functions)
    for f in todo:
        if f not in idx.defines and f not in idx.inline_refs:
            raise EdgeqError(f"CMSIS-NN function {f} not found in this checkout", where=str(root),
                             hint="use a CMSIS-NN release >= v6.0.0 (edgeq was checked with v7.0.0)")
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in idx.defines:
            p = idx.defines[name]
            if p not in files:
                files.add(p)
                todo.extend(s for s in idx.refs[p] if s not in seen and (s in idx.defines or s in idx.inline_refs))
        if name in idx.inline_refs:
            todo.extend(s for s in idx.inline_refs[name] if s not in seen
                        and (s in idx.defines or s in idx.inline_refs))
    return sorted(files)


def copy_sources(root: Path, functions: Iterable[str], dest: Path, *, flat: bool = False) -> list[str]:
    """Copy CMSIS-NN's headers, the needed Source/**.c and its LICENSE into ``dest``; returns the files written,
    relative to ``dest`` (posix).

    ``flat=False`` keeps CMSIS-NN's layout (``Include/``, ``Source/<Group>/``, ``LICENSE``, ``VERSION``; build with
    ``-I dest/Include``). ``flat=True`` puts the headers and the .c files directly in ``dest`` (``Internal/`` stays a
    sub-folder, which is how the headers include it) plus ``LICENSE-CMSIS-NN.txt``: every file then finds its headers
    next to itself, so no -I is needed (Arduino sketch folders, simple Makefiles). The file names do not collide:
    CMSIS-NN's are all ``arm_*``."""
    dest.mkdir(parents=True, exist_ok=True)
    out: list[str] = []
    inc = root / "Include"
    for h in sorted(inc.rglob("*.h")):
        rel = h.relative_to(inc) if flat else h.relative_to(root)
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(h, dest / rel)
        out.append(rel.as_posix())
    for p in needed_sources(root, functions):
        rel = Path(p.name) if flat else p.relative_to(root)
        if (dest / rel).exists() and flat:
            raise EdgeqError(f"CMSIS-NN file name {p.name} clashes with another file of the output", where=str(p))
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, dest / rel)
        out.append(rel.as_posix())
    lic_name = "LICENSE-CMSIS-NN.txt" if flat else "LICENSE"
    for lic in ("LICENSE", "LICENSE.txt"):
        if (root / lic).is_file():
            shutil.copy2(root / lic, dest / lic_name)
            out.append(lic_name)
            break
    ver_name = "CMSIS-NN-VERSION.txt" if flat else "VERSION"
    (dest / ver_name).write_text(f"CMSIS-NN {cmsis_nn_version(root)}; files copied by edgeq (Apache-2.0, see "
                                 f"{lic_name}); functions: {', '.join(sorted(functions))}\n")
    out.append(ver_name)
    return out
