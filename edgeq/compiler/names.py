"""Names in generated C. The sanitizers for text from a model (:func:`c_identifier`, :func:`c_comment`,
:func:`c_string`) live in :mod:`edgeq._templates` with the other C helpers; this module adds the compiler's own
naming of layers (:func:`layer_c_name`), from which buffers (``buf_conv0_out``) and constants
(``edgeq_conv0_filter``) are named.
"""

from __future__ import annotations

from edgeq._templates import c_comment, c_identifier, c_string

__all__ = ["c_identifier", "c_comment", "c_string", "layer_c_name"]


#: short C names of the op kinds whose TFLite names are long (the rest: the opcode in lower case)
_LAYER_KINDS = {
    "CONV_2D": "conv", "DEPTHWISE_CONV_2D": "dwconv", "TRANSPOSE_CONV": "tconv", "FULLY_CONNECTED": "fc",
    "AVERAGE_POOL_2D": "avgpool", "MAX_POOL_2D": "maxpool", "CONCATENATION": "concat", "BATCH_MATMUL": "bmm",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "lstm", "RESIZE_NEAREST_NEIGHBOR": "resize_nearest",
    "SQUARED_DIFFERENCE": "sqdiff", "DEPTH_TO_SPACE": "depth2space", "SPACE_TO_DEPTH": "space2depth",
    "STRIDED_SLICE": "strided_slice", "LEAKY_RELU": "leaky_relu", "HARD_SWISH": "hard_swish",
}


def layer_c_name(opcode: str, index: int) -> str:
    """A layer's name in generated code, op kind + layer index: ``conv0``, ``dwconv1``, ``fc11``, ``softmax12``."""
    return c_identifier(_LAYER_KINDS.get(opcode, opcode.lower()) + str(index))
