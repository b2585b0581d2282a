"""INT8 quantization from scratch, bit-exact with TFLite / TFLM (numpy only, no TensorFlow).

* :mod:`edgeq.quant.affine`: scale / zero point (``choose_qparams``), ``quantize`` / ``dequantize``, weights and bias
  quantized as the TFLite converter does it.
* :mod:`edgeq.quant.fixedpoint`: integer requantization (``quantize_multiplier``, ``multiply_by_quantized_multiplier``)
  and the per-op kernel parameters TFLM derives in ``Prepare`` (conv, fully connected, add, mul, softmax, activations).
* :mod:`edgeq.quant.observers`: calibration observers (min/max, moving average, percentile, MSE, entropy).
* :mod:`edgeq.quant.reference_ops`: readable numpy int8 FULLY_CONNECTED / CONV_2D / DEPTHWISE_CONV_2D.

This package is the single source of truth for kernel parameters: the model compiler must derive every multiplier,
shift, zero point and activation bound through it.
"""

from edgeq.quant.affine import (
    BIAS_MAX,
    DTYPE_RANGES,
    QParams,
    QuantizationError,
    choose_qparams,
    dequantize,
    qrange,
    quantize,
    quantize_bias,
    quantize_weights,
    quantize_weights_and_bias,
    quantize_weights_per_channel,
    round_half_away_from_zero,
)
from edgeq.quant.fixedpoint import (
    AddParams,
    SoftmaxParams,
    add_params,
    calculate_activation_range_quantized,
    calculate_input_radius,
    conv_multipliers,
    fully_connected_multipliers,
    mul_params,
    multiply_by_quantized_multiplier,
    preprocess_softmax_scaling,
    quantize_multiplier,
    quantize_multiplier_greater_than_one,
    quantize_multiplier_smaller_than_one_exp,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
    softmax_params,
)
from edgeq.quant.observers import (
    OBSERVERS,
    EntropyObserver,
    MinMaxObserver,
    MovingAverageMinMaxObserver,
    MSEObserver,
    Observer,
    PercentileObserver,
    StreamingHistogram,
    make_observer,
)
from edgeq.quant.reference_ops import compute_padding, conv2d_int8, depthwise_conv2d_int8, fully_connected_int8

__all__ = [
    # affine
    "BIAS_MAX",
    "DTYPE_RANGES",
    "QParams",
    "QuantizationError",
    "choose_qparams",
    "dequantize",
    "qrange",
    "quantize",
    "quantize_bias",
    "quantize_weights",
    "quantize_weights_and_bias",
    "quantize_weights_per_channel",
    "round_half_away_from_zero",
    # fixedpoint
    "AddParams",
    "SoftmaxParams",
    "add_params",
    "calculate_activation_range_quantized",
    "calculate_input_radius",
    "conv_multipliers",
    "fully_connected_multipliers",
    "mul_params",
    "multiply_by_quantized_multiplier",
    "preprocess_softmax_scaling",
    "quantize_multiplier",
    "quantize_multiplier_greater_than_one",
    "quantize_multiplier_smaller_than_one_exp",
    "rounding_divide_by_pot",
    "saturating_rounding_doubling_high_mul",
    "softmax_params",
    # observers
    "OBSERVERS",
    "EntropyObserver",
    "MinMaxObserver",
    "MovingAverageMinMaxObserver",
    "MSEObserver",
    "Observer",
    "PercentileObserver",
    "StreamingHistogram",
    "make_observer",
    # reference ops
    "compute_padding",
    "conv2d_int8",
    "depthwise_conv2d_int8",
    "fully_connected_int8",
]
