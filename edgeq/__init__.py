"""edgeq: take a Keras model to a microcontroller and prove how fast and how faithfully it runs there.

The data walks one way: model -> Graph (edgeq.tflite) -> lowered layers and memory plan (edgeq.compiler)
-> C sources (firmware_templates/) -> firmware (edgeq.targets) -> device -> report (edgeq.bench).
TensorFlow is imported lazily, only by edgeq.convert and edgeq.qat.
"""

__version__ = "0.1.0"

from edgeq.errors import EdgeqError  # noqa: E402  (tiny module, no heavy imports)

__all__ = ["EdgeqError", "__version__"]
