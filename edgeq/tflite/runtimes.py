"""Which ops each microcontroller runtime has, as data (no numpy: ``edgeq inspect`` uses it).

The TFLM tables are read off ``tensorflow/lite/micro/micro_mutable_op_resolver.h`` at tflite-micro commit
``90b983c2`` (the one ../shared/reference pins): every ``Add...()`` method that registers a builtin op, and the custom
ops the resolver can register by name (TFLM's signal library, the circular buffer, detection post-processing).
"""

from __future__ import annotations

TFLM_COMMIT = "90b983c2b3f1480642e040bbd2ddb37b998f3424"

#: builtin op -> its ``MicroMutableOpResolver`` method
TFLM_BUILTIN_OPS: dict[str, str] = {
    "ABS": "AddAbs", "ADD": "AddAdd", "ADD_N": "AddAddN", "ARG_MAX": "AddArgMax", "ARG_MIN": "AddArgMin",
    "ASSIGN_VARIABLE": "AddAssignVariable", "AVERAGE_POOL_2D": "AddAveragePool2D", "BATCH_MATMUL": "AddBatchMatMul",
    "BATCH_TO_SPACE_ND": "AddBatchToSpaceNd", "BROADCAST_ARGS": "AddBroadcastArgs", "BROADCAST_TO": "AddBroadcastTo",
    "CALL_ONCE": "AddCallOnce", "CAST": "AddCast", "CEIL": "AddCeil", "CONCATENATION": "AddConcatenation",
    "CONV_2D": "AddConv2D", "COS": "AddCos", "CUMSUM": "AddCumSum", "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D",
    "DEPTH_TO_SPACE": "AddDepthToSpace", "DEQUANTIZE": "AddDequantize", "DIV": "AddDiv",
    "DYNAMIC_UPDATE_SLICE": "AddDynamicUpdateSlice", "ELU": "AddElu", "EMBEDDING_LOOKUP": "AddEmbeddingLookup",
    "EQUAL": "AddEqual", "EXP": "AddExp", "EXPAND_DIMS": "AddExpandDims", "FILL": "AddFill", "FLOOR": "AddFloor",
    "FLOOR_DIV": "AddFloorDiv", "FLOOR_MOD": "AddFloorMod", "FULLY_CONNECTED": "AddFullyConnected",
    "GATHER": "AddGather", "GATHER_ND": "AddGatherNd", "GREATER": "AddGreater", "GREATER_EQUAL": "AddGreaterEqual",
    "HARD_SWISH": "AddHardSwish", "IF": "AddIf", "L2_NORMALIZATION": "AddL2Normalization",
    "L2_POOL_2D": "AddL2Pool2D", "LEAKY_RELU": "AddLeakyRelu", "LESS": "AddLess", "LESS_EQUAL": "AddLessEqual",
    "LOG": "AddLog", "LOGICAL_AND": "AddLogicalAnd", "LOGICAL_NOT": "AddLogicalNot", "LOGICAL_OR": "AddLogicalOr",
    "LOGISTIC": "AddLogistic", "LOG_SOFTMAX": "AddLogSoftmax", "MAXIMUM": "AddMaximum",
    "MAX_POOL_2D": "AddMaxPool2D", "MEAN": "AddMean", "MINIMUM": "AddMinimum", "MIRROR_PAD": "AddMirrorPad",
    "MUL": "AddMul", "NEG": "AddNeg", "NOT_EQUAL": "AddNotEqual", "PACK": "AddPack", "PAD": "AddPad",
    "PADV2": "AddPadV2", "PRELU": "AddPrelu", "QUANTIZE": "AddQuantize", "READ_VARIABLE": "AddReadVariable",
    "REDUCE_ALL": "AddReduceAll", "REDUCE_MAX": "AddReduceMax", "REDUCE_MIN": "AddReduceMin", "RELU": "AddRelu",
    "RELU6": "AddRelu6", "RESHAPE": "AddReshape", "RESIZE_BILINEAR": "AddResizeBilinear",
    "RESIZE_NEAREST_NEIGHBOR": "AddResizeNearestNeighbor", "REVERSE_V2": "AddReverseV2", "ROUND": "AddRound",
    "RSQRT": "AddRsqrt", "SELECT_V2": "AddSelectV2", "SHAPE": "AddShape", "SIN": "AddSin", "SLICE": "AddSlice",
    "SOFTMAX": "AddSoftmax", "SPACE_TO_BATCH_ND": "AddSpaceToBatchNd", "SPACE_TO_DEPTH": "AddSpaceToDepth",
    "SPLIT": "AddSplit", "SPLIT_V": "AddSplitV", "SQRT": "AddSqrt", "SQUARE": "AddSquare",
    "SQUARED_DIFFERENCE": "AddSquaredDifference", "SQUEEZE": "AddSqueeze", "STRIDED_SLICE": "AddStridedSlice",
    "SUB": "AddSub", "SUM": "AddSum", "SVDF": "AddSvdf", "TANH": "AddTanh", "TRANSPOSE": "AddTranspose",
    "TRANSPOSE_CONV": "AddTransposeConv", "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM",
    "UNPACK": "AddUnpack", "VAR_HANDLE": "AddVarHandle", "WHILE": "AddWhile", "ZEROS_LIKE": "AddZerosLike",
}

#: custom op name (as the .tflite spells it) -> its ``MicroMutableOpResolver`` method
TFLM_CUSTOM_OPS: dict[str, str] = {
    "SignalDelay": "AddDelay", "SignalEnergy": "AddEnergy", "SignalFftAutoScale": "AddFftAutoScale",
    "SignalFilterBank": "AddFilterBank", "SignalFilterBankLog": "AddFilterBankLog",
    "SignalFilterBankSquareRoot": "AddFilterBankSquareRoot",
    "SignalFilterBankSpectralSubtraction": "AddFilterBankSpectralSubtraction", "SignalFramer": "AddFramer",
    "SignalIrfft": "AddIrfft", "SignalOverlapAdd": "AddOverlapAdd", "SignalPCAN": "AddPCAN", "SignalRfft": "AddRfft",
    "SignalStacker": "AddStacker", "SignalWindow": "AddWindow", "CIRCULAR_BUFFER": "AddCircularBuffer",
    "TFLite_Detection_PostProcess": "AddDetectionPostprocess",
}

#: custom ops that are a command stream for an accelerator, not a kernel: op name -> what runs it
NPU_CUSTOM_OPS: dict[str, str] = {
    "ethos-u": "an Arm Ethos-U NPU (the model was compiled by Vela; TFLM runs it only through the Ethos-U driver "
               "on a board with that NPU)",
}


def custom_name(opcode: str) -> str | None:
    """``"CUSTOM:SignalWindow"`` -> ``"SignalWindow"``; a builtin op -> None."""
    return opcode[7:] if opcode.startswith("CUSTOM:") else None


def tflm_has(opcode: str) -> bool:
    """True when TFLM's op resolver can register a kernel for this op (NPU command streams excluded)."""
    name = custom_name(opcode)
    if name is None:
        return opcode in TFLM_BUILTIN_OPS
    return name in TFLM_CUSTOM_OPS


def tflm_method(opcode: str) -> str | None:
    name = custom_name(opcode)
    return TFLM_BUILTIN_OPS.get(opcode) if name is None else TFLM_CUSTOM_OPS.get(name)
