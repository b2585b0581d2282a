"""PAD (int8 or int16, constant paddings, up to 4-D) -> edgeq_pad with the element size (int8 on the cmsis-nn
backend: arm_pad_s8, whose arguments edgeq_pad takes before the element size). The pad value is the output zero point (TFLM's PadPrepare for int8 / int16 without a constant value).

Folded (no code, no buffer) when its only reader is a CONV_2D or DEPTHWISE_CONV_2D and it pads height and width
only: the convolution then reads the PAD's input with the extra leading padding, and skips the taps past the
input's end. Exact: a padded element equals the input zero point, so it adds ``(zp - zp) * w = 0`` to the sum, the
same as a skipped tap. Any amounts on any side (asymmetric, larger than SAME would give): edgeq's kernels take the
top/left amount as their padding and the output size, and skip every tap outside the input.
MAX_POOL_2D only where the pad value cannot change a max (:func:`max_pool_exact`): the PAD's input is never below
its zero point (it comes from a RELU / RELU6, fused or not) or the pool's own clamp starts at or above the zero point,
and every pooling window keeps at least one cell of the input (an all-padding window has no max to skip to). Never
AVERAGE_POOL_2D: it counts a padded cell in its divisor where TFLM's pooling counts only the cells inside the input.

On the cmsis-nn backend the fold must also be exact for the CMSIS-NN kernel arm_convolve_wrapper_s8 picks, whose
padding is the top/left amount only: its 1x1 paths (padding 0, chosen when the folded top and left amounts are 0)
compute one output pixel per input pixel and ignore bottom/right padding, and its 1xN path (input height 1) computes
one output row and, on MVE, accepts only SAME-like width padding. Those PADs stay (arm_pad_s8); the general
convolution and every depthwise path skip out-of-range taps on all four sides, so the fold is exact there
(tests/test_compiler_pad_fold.py checks each path against TFLM).
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeq.compiler.cparams import Dims, KernelCall, TensorRef, out_ref
from edgeq.compiler.ops._int16 import CTYPE, ELEM_SIZE, act_dtype, activation
from edgeq.compiler.ops.base import Layer, dims4, sole_reader

FOLD_INTO = ("CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D")
#: producers whose int8 output is never below its zero point (the clamp of RELU / RELU6 starts at it)
_NON_NEGATIVE_ACT = ("RELU", "RELU6")


@dataclass(frozen=True)
class PadFold:
    pad_index: int  # the PAD operator
    source: int  # the PAD's input tensor, read by the convolution instead
    top: int
    bottom: int
    left: int
    right: int


def cmsis_nn_exact(graph, conv, fold: PadFold) -> bool:
    """Is folding ``fold`` into CONV_2D / DEPTHWISE_CONV_2D ``conv`` exact with the CMSIS-NN kernel it will run?
    (See the module docstring; a grouped convolution runs edgeq's portable kernel, which is always exact.)"""
    if conv.opcode != "CONV_2D":
        return True
    src, w = graph.tensors[fold.source], graph.tensors[conv.inputs[1]]
    if len(w.shape) != 4 or w.shape[3] != src.shape[3]:
        return True  # grouped: edgeq's kernel
    o = conv.options
    kh, kw = int(w.shape[1]), int(w.shape[2])
    dilated = int(o.get("dilation_h_factor", 1)) != 1 or int(o.get("dilation_w_factor", 1)) != 1
    if kh == 1 and kw == 1 and not dilated and fold.top == 0 and fold.left == 0:
        return False  # arm_convolve_1x1_s8(_fast): padding 0, bottom/right padding ignored
    if int(src.shape[1]) == 1 and kh == 1:
        return False  # arm_convolve_1_x_n_s8: one row, symmetric width padding only
    return True


def _windows_hit_input(size: int, pad_lead: int, kernel: int, stride: int, out: int) -> bool:
    """Does every pooling window along one axis keep at least one cell of the (unpadded) input?"""
    return all(o * stride - pad_lead < size and o * stride - pad_lead + kernel > 0 for o in range(out))


def max_pool_exact(graph, pool, fold: PadFold) -> bool:
    """Is folding ``fold`` into MAX_POOL_2D ``pool`` exact? (See the module docstring.)"""
    from edgeq.quant import fixedpoint as fp
    from edgeq.quant.reference_ops import compute_out_size, compute_padding

    src = graph.tensors[fold.source]
    o = pool.options
    act = o.get("fused_activation_function", "NONE")
    if act not in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1"):
        return False
    producer = next((op for op in graph.operators if fold.source in op.outputs), None)
    non_negative = producer is not None and (
        producer.opcode in _NON_NEGATIVE_ACT
        or producer.options.get("fused_activation_function", "NONE") in _NON_NEGATIVE_ACT)
    act_min, _ = fp.calculate_activation_range_quantized(act, src.scale, src.zero_point)
    if not (non_negative or act_min >= src.zero_point):
        return False
    padding = o.get("padding", "SAME")
    sh, sw = int(o.get("stride_h", 1)), int(o.get("stride_w", 1))
    fh, fw = int(o.get("filter_height", 1)), int(o.get("filter_width", 1))
    if min(sh, sw, fh, fw) < 1 or padding not in ("SAME", "VALID"):
        return False
    _, h, w, _ = (int(d) for d in src.shape)
    ph, pw = h + fold.top + fold.bottom, w + fold.left + fold.right
    oh, ow = compute_out_size(padding, ph, fh, sh), compute_out_size(padding, pw, fw, sw)
    lead_h = compute_padding(sh, 1, ph, fh, oh) + fold.top
    lead_w = compute_padding(sw, 1, pw, fw, ow) + fold.left
    return oh > 0 and ow > 0 and _windows_hit_input(h, lead_h, fh, sh, oh) and _windows_hit_input(w, lead_w, fw, sw,
                                                                                                 ow)


def pad_folds(graph, backend: str = "portable") -> dict[int, PadFold]:
    """Convolution operator index -> the PAD folded into it (see the module docstring for when)."""
    folds: dict[int, PadFold] = {}
    for op in graph.operators:
        if op.opcode != "PAD" or len(op.inputs) != 2:
            continue
        reader = sole_reader(graph, op)
        if reader is None or reader.opcode not in FOLD_INTO:
            continue
        src, pads_t, out = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]], op.outputs[0]
        if src.is_constant or not pads_t.is_constant or len(src.shape) != 4 or src.dtype != "int8":
            continue
        o = graph.tensors[out]
        if o.dtype != "int8" or o.zero_point != src.zero_point or float(o.scale) != float(src.scale):
            continue
        pads = [[int(v) for v in row] for row in pads_t.array().reshape(-1, 2).tolist()]
        if len(pads) != 4 or pads[0] != [0, 0] or pads[3] != [0, 0] or min(pads[1] + pads[2]) < 0:
            continue
        fold = PadFold(op.index, op.inputs[0], pads[1][0], pads[1][1], pads[2][0], pads[2][1])
        if reader.opcode == "MAX_POOL_2D" and not max_pool_exact(graph, reader, fold):
            continue
        if backend == "cmsis-nn" and not cmsis_nn_exact(graph, reader, fold):
            continue
        folds[reader.index] = fold
    return folds


class Pad(Layer):
    OPS = ("PAD",)
    SOURCES = ("edgeq_data_movement.c",)

    @property
    def folded_into(self) -> int | None:
        """The convolution this PAD is folded into (set by lower before prepare), or None."""
        return self.params.get("folded_into")

    def reads(self) -> list[int]:
        return [] if self.folded_into is not None else super().reads()

    def writes(self) -> list[int]:
        return [] if self.folded_into is not None else super().writes()

    @property
    def sources(self) -> tuple[str, ...]:
        return () if self.folded_into is not None else self.SOURCES

    def describe(self, note: str = "") -> str:
        if self.folded_into is not None:
            return f"layer {self.index}: PAD folded into layer {self.folded_into} (no code, no buffer)"
        return super().describe(note)

    def prepare(self) -> KernelCall:
        dt = act_dtype(self)
        x = activation(self, self.input(0), "input", dt)
        out = activation(self, self.output(), "output", dt)
        pads_t = self.require_const(self.input(1), "paddings")
        if pads_t.dtype not in ("int32", "int64"):
            raise self.unsupported(f"paddings tensor is {pads_t.dtype}")
        rank = len(x.shape)
        if rank > 4 or rank == 0:
            raise self.unsupported(f"input rank {rank} (1..4 supported)")
        pads = pads_t.array().reshape(-1, 2).tolist()
        if len(pads) != rank or any(a < 0 or b < 0 for a, b in pads):
            raise self.unsupported(f"paddings {pads} do not fit input rank {rank}")
        if [x.shape[k] + pads[k][0] + pads[k][1] for k in range(rank)] != list(out.shape):
            raise self.unsupported(f"output {list(out.shape)} does not match {list(x.shape)} padded by {pads}")
        if x.zero_point != out.zero_point or abs(x.scale - out.scale) > 1e-6 * abs(out.scale):
            raise self.unsupported("input and output quantization differ")
        pre = [0] * (4 - rank) + [int(a) for a, _ in pads]
        post = [0] * (4 - rank) + [int(b) for _, b in pads]
        self.params.update(input_dims=dims4(x.shape), pre=pre, post=post, value=out.zero_point)
        return self._call()

    def _call(self) -> KernelCall | None:
        if self.folded_into is not None:
            return None
        p = self.params
        dt = act_dtype(self)
        return KernelCall.make("pad", status=True, input=TensorRef(self.op.inputs[0], CTYPE[dt]),
                               output=out_ref(self.op.outputs[0], CTYPE[dt]), pad_value=p["value"],
                               input_size=Dims(*p["input_dims"]), pre_pad=Dims(*p["pre"]), post_pad=Dims(*p["post"]),
                               elem_size=ELEM_SIZE[dt])


class PadV2(Pad):
    """PADV2 (int8): PAD with a constant pad value (third input), the same kernel. TFLM pads with the constant's
    raw int8 value, and its Prepare requires the constant to share the output's scale and zero point (pad_common.cc);
    never folded into a convolution (the pad value need not be the zero point)."""

    OPS = ("PADV2",)

    def prepare(self) -> KernelCall:
        dt = act_dtype(self)
        if dt != "int8":  # the converter leaves an int16x8 model's constant float32, which TFLM refuses
            raise self.unsupported(f"PADV2 is compiled for int8 only, not {dt}")
        value_t = self.require_const(self.input(2), "constant_values")
        if value_t.dtype != dt:
            raise self.unsupported(f"constant_values is {value_t.dtype}, the input {dt}")
        values = value_t.array().reshape(-1)
        if values.size != 1:
            raise self.unsupported(f"constant_values has {values.size} elements (TFLM requires a scalar)")
        out = self.output()
        if value_t.zero_point != out.zero_point or float(value_t.scale) != float(out.scale):
            raise self.unsupported("constant_values and output quantization differ (TFLM refuses it)")
        super().prepare()
        self.params["value"] = int(values[0])
        return self._call()
