"""One module per op kind (tflite-micro style): each defines a Layer subclass whose ``prepare()`` computes the
kernel parameters once and returns the kernel call as data (edgeq.compiler.cparams). ``LAYERS`` maps opcode ->
class."""

from __future__ import annotations

from edgeq.compiler.ops.abs import Abs
from edgeq.compiler.ops.activations import Logistic, Relu, Relu6, Tanh
from edgeq.compiler.ops.add import Add
from edgeq.compiler.ops.arg_min_max import ArgMax, ArgMin
from edgeq.compiler.ops.base import ConstArray, Layer, LowerContext, Renderer
from edgeq.compiler.ops.batch_matmul import BatchMatMul
from edgeq.compiler.ops.concatenation import Concatenation
from edgeq.compiler.ops.conv import Conv2D
from edgeq.compiler.ops.depth_space import DepthToSpace, SpaceToDepth
from edgeq.compiler.ops.depthwise_conv import DepthwiseConv2D
from edgeq.compiler.ops.fully_connected import FullyConnected
from edgeq.compiler.ops.gather import Gather
from edgeq.compiler.ops.lookup_table import HardSwish, LeakyRelu
from edgeq.compiler.ops.lstm import UnidirectionalSequenceLstm
from edgeq.compiler.ops.maximum_minimum import Maximum, Minimum
from edgeq.compiler.ops.mean import Mean, Sum
from edgeq.compiler.ops.mirror_pad import MirrorPad
from edgeq.compiler.ops.mul import Mul
from edgeq.compiler.ops.pack import Pack
from edgeq.compiler.ops.pad import Pad, PadV2
from edgeq.compiler.ops.pooling import AveragePool2D, MaxPool2D
from edgeq.compiler.ops.prelu import Prelu
from edgeq.compiler.ops.quantize import Dequantize, Quantize
from edgeq.compiler.ops.reduce import ReduceMax, ReduceMin
from edgeq.compiler.ops.reshape import Reshape
from edgeq.compiler.ops.resize_bilinear import ResizeBilinear
from edgeq.compiler.ops.resize_nearest import ResizeNearestNeighbor
from edgeq.compiler.ops.slice import Slice, StridedSlice
from edgeq.compiler.ops.softmax import Softmax
from edgeq.compiler.ops.split import Split, SplitV, Unpack
from edgeq.compiler.ops.squared_difference import SquaredDifference
from edgeq.compiler.ops.sub import Sub
from edgeq.compiler.ops.svdf import Svdf
from edgeq.compiler.ops.transpose import Transpose
from edgeq.compiler.ops.transpose_conv import TransposeConv

_CLASSES: tuple[type[Layer], ...] = (
    Conv2D, DepthwiseConv2D, FullyConnected, AveragePool2D, MaxPool2D, Add, Mul, Softmax, Reshape, Mean,
    Concatenation, Pad, Logistic, Relu, Relu6, Quantize, Dequantize, Svdf,
    UnidirectionalSequenceLstm, Transpose, Slice, StridedSlice, Split, SplitV,
    Pack, Unpack, DepthToSpace, SpaceToDepth, ResizeNearestNeighbor, ResizeBilinear, Tanh, LeakyRelu, HardSwish,
    Prelu, Maximum, Minimum, Sub, SquaredDifference, ArgMax, ArgMin, Gather,
    BatchMatMul, TransposeConv, PadV2, ReduceMax, ReduceMin, Sum, Abs, MirrorPad,
)

#: opcode -> Layer class
LAYERS: dict[str, type[Layer]] = {op: cls for cls in _CLASSES for op in cls.OPS}

__all__ = ["LAYERS", "ConstArray", "Layer", "LowerContext", "Renderer"]
