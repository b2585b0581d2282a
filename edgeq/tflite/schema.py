"""The parts of the TFLite flatbuffer schema (tensorflow/compiler/mlir/lite/schema/schema.fbs) that edgeq reads.

Field numbers are the 0-based field order of each table in the schema; enum values are the schema's. A test checks
these tables against the schema module shipped with LiteRT.
"""

from __future__ import annotations

from edgeq.tflite import flatbuf as fb

#: BuiltinOperator enum, by value.
BUILTIN_OPS: tuple[str, ...] = (
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "DEPTH_TO_SPACE", "DEQUANTIZE",
    "EMBEDDING_LOOKUP", "FLOOR", "FULLY_CONNECTED", "HASHTABLE_LOOKUP", "L2_NORMALIZATION", "L2_POOL_2D",
    "LOCAL_RESPONSE_NORMALIZATION", "LOGISTIC", "LSH_PROJECTION", "LSTM", "MAX_POOL_2D", "MUL", "RELU",
    "RELU_N1_TO_1", "RELU6", "RESHAPE", "RESIZE_BILINEAR", "RNN", "SOFTMAX", "SPACE_TO_DEPTH", "SVDF", "TANH",
    "CONCAT_EMBEDDINGS", "SKIP_GRAM", "CALL", "CUSTOM", "EMBEDDING_LOOKUP_SPARSE", "PAD",
    "UNIDIRECTIONAL_SEQUENCE_RNN", "GATHER", "BATCH_TO_SPACE_ND", "SPACE_TO_BATCH_ND", "TRANSPOSE", "MEAN", "SUB",
    "DIV", "SQUEEZE", "UNIDIRECTIONAL_SEQUENCE_LSTM", "STRIDED_SLICE", "BIDIRECTIONAL_SEQUENCE_RNN", "EXP",
    "TOPK_V2", "SPLIT", "LOG_SOFTMAX", "DELEGATE", "BIDIRECTIONAL_SEQUENCE_LSTM", "CAST", "PRELU", "MAXIMUM",
    "ARG_MAX", "MINIMUM", "LESS", "NEG", "PADV2", "GREATER", "GREATER_EQUAL", "LESS_EQUAL", "SELECT", "SLICE", "SIN",
    "TRANSPOSE_CONV", "SPARSE_TO_DENSE", "TILE", "EXPAND_DIMS", "EQUAL", "NOT_EQUAL", "LOG", "SUM", "SQRT", "RSQRT",
    "SHAPE", "POW", "ARG_MIN", "FAKE_QUANT", "REDUCE_PROD", "REDUCE_MAX", "PACK", "LOGICAL_OR", "ONE_HOT",
    "LOGICAL_AND", "LOGICAL_NOT", "UNPACK", "REDUCE_MIN", "FLOOR_DIV", "REDUCE_ANY", "SQUARE", "ZEROS_LIKE", "FILL",
    "FLOOR_MOD", "RANGE", "RESIZE_NEAREST_NEIGHBOR", "LEAKY_RELU", "SQUARED_DIFFERENCE", "MIRROR_PAD", "ABS",
    "SPLIT_V", "UNIQUE", "CEIL", "REVERSE_V2", "ADD_N", "GATHER_ND", "COS", "WHERE", "RANK", "ELU",
    "REVERSE_SEQUENCE", "MATRIX_DIAG", "QUANTIZE", "MATRIX_SET_DIAG", "ROUND", "HARD_SWISH", "IF", "WHILE",
    "NON_MAX_SUPPRESSION_V4", "NON_MAX_SUPPRESSION_V5", "SCATTER_ND", "SELECT_V2", "DENSIFY", "SEGMENT_SUM",
    "BATCH_MATMUL", "PLACEHOLDER_FOR_GREATER_OP_CODES", "CUMSUM", "CALL_ONCE", "BROADCAST_TO", "RFFT2D", "CONV_3D",
    "IMAG", "REAL", "COMPLEX_ABS", "HASHTABLE", "HASHTABLE_FIND", "HASHTABLE_IMPORT", "HASHTABLE_SIZE", "REDUCE_ALL",
    "CONV_3D_TRANSPOSE", "VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE", "BROADCAST_ARGS",
    "RANDOM_STANDARD_NORMAL", "BUCKETIZE", "RANDOM_UNIFORM", "MULTINOMIAL", "GELU", "DYNAMIC_UPDATE_SLICE",
    "RELU_0_TO_1", "UNSORTED_SEGMENT_PROD", "UNSORTED_SEGMENT_MAX", "UNSORTED_SEGMENT_SUM", "ATAN2",
    "UNSORTED_SEGMENT_MIN", "SIGN", "BITCAST", "BITWISE_XOR", "RIGHT_SHIFT", "STABLEHLO_LOGISTIC", "STABLEHLO_ADD",
    "STABLEHLO_DIVIDE", "STABLEHLO_MULTIPLY", "STABLEHLO_MAXIMUM", "STABLEHLO_RESHAPE", "STABLEHLO_CLAMP",
    "STABLEHLO_CONCATENATE", "STABLEHLO_BROADCAST_IN_DIM", "STABLEHLO_CONVOLUTION", "STABLEHLO_SLICE",
    "STABLEHLO_CUSTOM_CALL", "STABLEHLO_REDUCE", "STABLEHLO_ABS", "STABLEHLO_AND", "STABLEHLO_COSINE",
    "STABLEHLO_EXPONENTIAL", "STABLEHLO_FLOOR", "STABLEHLO_LOG", "STABLEHLO_MINIMUM", "STABLEHLO_NEGATE",
    "STABLEHLO_OR", "STABLEHLO_POWER", "STABLEHLO_REMAINDER", "STABLEHLO_RSQRT", "STABLEHLO_SELECT",
    "STABLEHLO_SUBTRACT", "STABLEHLO_TANH", "STABLEHLO_SCATTER", "STABLEHLO_COMPARE", "STABLEHLO_CONVERT",
    "STABLEHLO_DYNAMIC_SLICE", "STABLEHLO_DYNAMIC_UPDATE_SLICE", "STABLEHLO_PAD", "STABLEHLO_IOTA",
    "STABLEHLO_DOT_GENERAL", "STABLEHLO_REDUCE_WINDOW", "STABLEHLO_SORT", "STABLEHLO_WHILE", "STABLEHLO_GATHER",
    "STABLEHLO_TRANSPOSE", "DILATE", "STABLEHLO_RNG_BIT_GENERATOR", "REDUCE_WINDOW", "STABLEHLO_COMPOSITE",
    "STABLEHLO_SHIFT_LEFT", "STABLEHLO_CBRT", "STABLEHLO_CASE",)

#: TensorType enum -> (name, numpy dtype string or None, bytes per element; 0.5 for 4-bit types)
TENSOR_TYPES: dict[int, tuple[str, str | None, float]] = {
    0: ("float32", "float32", 4), 1: ("float16", "float16", 2), 2: ("int32", "int32", 4), 3: ("uint8", "uint8", 1),
    4: ("int64", "int64", 8), 5: ("string", None, 1), 6: ("bool", "bool", 1), 7: ("int16", "int16", 2),
    8: ("complex64", "complex64", 8), 9: ("int8", "int8", 1), 10: ("float64", "float64", 8),
    11: ("complex128", "complex128", 16), 12: ("uint64", "uint64", 8), 13: ("resource", None, 0),
    14: ("variant", None, 0), 15: ("uint32", "uint32", 4), 16: ("uint16", "uint16", 2), 17: ("int4", None, 0.5),
    18: ("bfloat16", None, 2), 19: ("int2", None, 0.25), 20: ("uint4", None, 0.5), 21: ("float8_e4m3fn", None, 1),
    22: ("float8_e5m2", None, 1),
}

#: ActivationFunctionType enum
ACTIVATIONS = ("NONE", "RELU", "RELU_N1_TO_1", "RELU6", "TANH", "SIGN_BIT")
#: Padding enum
PADDINGS = ("SAME", "VALID")

# Option tables, keyed by the op that carries them: (field name, field number, reader, default).
# Readers: a struct for scalars, "int_vector" for [int]. Enums are decoded to names below.
_CONV = (("padding", 0, fb.I8, 0), ("stride_w", 1, fb.I32, 0), ("stride_h", 2, fb.I32, 0),
         ("fused_activation_function", 3, fb.I8, 0), ("dilation_w_factor", 4, fb.I32, 1),
         ("dilation_h_factor", 5, fb.I32, 1))
_DWCONV = (("padding", 0, fb.I8, 0), ("stride_w", 1, fb.I32, 0), ("stride_h", 2, fb.I32, 0),
           ("depth_multiplier", 3, fb.I32, 0), ("fused_activation_function", 4, fb.I8, 0),
           ("dilation_w_factor", 5, fb.I32, 1), ("dilation_h_factor", 6, fb.I32, 1))
_POOL = (("padding", 0, fb.I8, 0), ("stride_w", 1, fb.I32, 0), ("stride_h", 2, fb.I32, 0),
         ("filter_width", 3, fb.I32, 0), ("filter_height", 4, fb.I32, 0), ("fused_activation_function", 5, fb.I8, 0))
_FC = (("fused_activation_function", 0, fb.I8, 0), ("weights_format", 1, fb.I8, 0), ("keep_num_dims", 2, fb.BOOL, 0),
       ("asymmetric_quantize_inputs", 3, fb.BOOL, 0))
_ACT_ONLY = (("fused_activation_function", 0, fb.I8, 0),)
_ADD = (("fused_activation_function", 0, fb.I8, 0), ("pot_scale_int16", 1, fb.BOOL, 1))

OPTIONS: dict[str, tuple] = {
    "CONV_2D": _CONV,
    "DEPTHWISE_CONV_2D": _DWCONV,
    "AVERAGE_POOL_2D": _POOL,
    "MAX_POOL_2D": _POOL,
    "L2_POOL_2D": _POOL,
    "FULLY_CONNECTED": _FC,
    "SOFTMAX": (("beta", 0, fb.F32, 0.0),),
    "CONCATENATION": (("axis", 0, fb.I32, 0), ("fused_activation_function", 1, fb.I8, 0)),
    "ADD": _ADD,
    "SUB": _ADD,
    "MUL": _ACT_ONLY,
    "DIV": _ACT_ONLY,
    "RESHAPE": (("new_shape", 0, "int_vector", None),),
    "MEAN": (("keep_dims", 0, fb.BOOL, 0),),
    "SUM": (("keep_dims", 0, fb.BOOL, 0),),
    "REDUCE_MAX": (("keep_dims", 0, fb.BOOL, 0),),
    "REDUCE_MIN": (("keep_dims", 0, fb.BOOL, 0),),
    "REDUCE_PROD": (("keep_dims", 0, fb.BOOL, 0),),
    "SQUEEZE": (("squeeze_dims", 0, "int_vector", None),),
    "LEAKY_RELU": (("alpha", 0, fb.F32, 0.0),),
    "TRANSPOSE_CONV": (("padding", 0, fb.I8, 0), ("stride_w", 1, fb.I32, 0), ("stride_h", 2, fb.I32, 0),
                       ("fused_activation_function", 3, fb.I8, 0)),
    "SVDF": (("rank", 0, fb.I32, 0), ("fused_activation_function", 1, fb.I8, 0),
             ("asymmetric_quantize_inputs", 2, fb.BOOL, 0)),
    "UNIDIRECTIONAL_SEQUENCE_LSTM": (("fused_activation_function", 0, fb.I8, 0), ("cell_clip", 1, fb.F32, 0.0),
                                     ("proj_clip", 2, fb.F32, 0.0), ("time_major", 3, fb.BOOL, 0),
                                     ("asymmetric_quantize_inputs", 4, fb.BOOL, 0),
                                     ("diagonal_recurrent_tensors", 5, fb.BOOL, 0)),
    "STRIDED_SLICE": (("begin_mask", 0, fb.I32, 0), ("end_mask", 1, fb.I32, 0), ("ellipsis_mask", 2, fb.I32, 0),
                      ("new_axis_mask", 3, fb.I32, 0), ("shrink_axis_mask", 4, fb.I32, 0), ("offset", 5, fb.BOOL, 0)),
    "SPLIT": (("num_splits", 0, fb.I32, 0),),
    "SPLIT_V": (("num_splits", 0, fb.I32, 0),),
    "PACK": (("values_count", 0, fb.I32, 0), ("axis", 1, fb.I32, 0)),
    "UNPACK": (("num", 0, fb.I32, 0), ("axis", 1, fb.I32, 0)),
    "DEPTH_TO_SPACE": (("block_size", 0, fb.I32, 0),),
    "SPACE_TO_DEPTH": (("block_size", 0, fb.I32, 0),),
    "RESIZE_NEAREST_NEIGHBOR": (("align_corners", 0, fb.BOOL, 0), ("half_pixel_centers", 1, fb.BOOL, 0)),
    "RESIZE_BILINEAR": (("align_corners", 2, fb.BOOL, 0), ("half_pixel_centers", 3, fb.BOOL, 0)),
    "GATHER": (("axis", 0, fb.I32, 0), ("batch_dims", 1, fb.I32, 0)),
    "MIRROR_PAD": (("mode", 0, fb.I8, 0),),  # MirrorPadMode: 0 REFLECT, 1 SYMMETRIC
    "BATCH_MATMUL": (("adj_x", 0, fb.BOOL, 0), ("adj_y", 1, fb.BOOL, 0), ("asymmetric_quantize_inputs", 2, fb.BOOL, 0)),
}

_ENUM_FIELDS = {"padding": PADDINGS, "fused_activation_function": ACTIVATIONS}


def decode_options(op_name: str, table: "fb.Table | None") -> dict:
    """Decode the builtin options of ``op_name`` into a plain dict (enum fields as names)."""
    spec = OPTIONS.get(op_name)
    if spec is None:
        return {}
    out: dict = {}
    for name, field, reader, default in spec:
        if table is None:
            value = default
        elif reader == "int_vector":
            vec = table.scalar_vector(field, "i")
            value = None if vec is None else tuple(vec)
        else:
            value = table.scalar(field, reader, default)
        if name in _ENUM_FIELDS:
            names = _ENUM_FIELDS[name]
            value = names[value] if 0 <= value < len(names) else f"UNKNOWN_{value}"
        elif reader is fb.BOOL:
            value = bool(value)
        out[name] = value
    return out
