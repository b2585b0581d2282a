"""Reading .tflite models without TensorFlow: :func:`read_model` -> :class:`Graph`."""

from edgeq.tflite.graph import Graph, Operator, Quantization, Tensor
from edgeq.tflite.reader import parse_model, read_model

__all__ = ["Graph", "Operator", "Quantization", "Tensor", "parse_model", "read_model"]
