"""The immutable in-memory form of a .tflite model that the rest of edgeq works on.

Only what edgeq needs: tensors (shape, dtype, quantization, constant data), the operators actually executed in
order, and the graph inputs/outputs. Built by :func:`edgeq.tflite.reader.read_model`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:  # numpy is imported where arrays are made, so reading a model needs none
    import numpy as np


@dataclass(frozen=True)
class Quantization:
    """Affine quantization of a tensor: ``real = scale * (q - zero_point)``.

    ``scale``/``zero_point`` have one entry (per-tensor) or one per slice along ``axis`` (per-channel).
    """

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int = 0
    min: tuple[float, ...] = ()
    max: tuple[float, ...] = ()

    @property
    def per_channel(self) -> bool:
        return len(self.scale) > 1

    @property
    def is_quantized(self) -> bool:
        return len(self.scale) > 0

    def scales(self) -> "np.ndarray":
        """Scales as float32, exactly as stored in the file (TFLM reads them as float)."""
        import numpy as np

        return np.asarray(self.scale, dtype=np.float32)

    def zero_points(self) -> "np.ndarray":
        import numpy as np

        return np.asarray(self.zero_point, dtype=np.int64)

    def to_dict(self) -> dict:
        d = {"scale": list(self.scale), "zero_point": list(self.zero_point)}
        if self.per_channel:
            d["axis"] = self.axis
        return d


@dataclass(frozen=True)
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str  # "int8", "float32", ... (see schema.TENSOR_TYPES)
    buffer: int
    quant: Quantization | None
    data: bytes | None = field(default=None, repr=False)  # constant contents, None for activations
    is_variable: bool = False
    shape_signature: tuple[int, ...] | None = None
    itemsize: float = 1

    @property
    def is_constant(self) -> bool:
        return self.data is not None and len(self.data) > 0

    @property
    def num_elements(self) -> int:
        return int(math.prod(self.shape)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return int(math.ceil(self.num_elements * self.itemsize))

    @property
    def is_dynamic(self) -> bool:
        return self.shape_signature is not None and any(d < 0 for d in self.shape_signature)

    @property
    def scale(self) -> float:
        """The per-tensor scale (first scale of a per-channel tensor)."""
        return float(self.quant.scale[0]) if self.quant and self.quant.scale else 0.0

    @property
    def zero_point(self) -> int:
        return int(self.quant.zero_point[0]) if self.quant and self.quant.zero_point else 0

    def array(self) -> "np.ndarray":
        """The constant data as a numpy array of ``shape`` (raises for activations)."""
        import numpy as np

        if self.data is None:
            raise ValueError(f"tensor {self.name!r} has no constant data")
        arr = np.frombuffer(self.data, dtype=np.dtype(self.dtype).newbyteorder("<"))
        return arr.reshape(self.shape)

    def to_dict(self) -> dict:
        d = {
            "index": self.index,
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "bytes": self.nbytes,
            "constant": self.is_constant,
        }
        if self.quant is not None and self.quant.is_quantized:
            d["quantization"] = self.quant.to_dict()
        if self.is_dynamic:
            d["shape_signature"] = list(self.shape_signature or ())
        return d


@dataclass(frozen=True)
class Operator:
    index: int
    opcode: str  # builtin name, or "CUSTOM:<code>"
    version: int
    inputs: tuple[int, ...]  # tensor indices, -1 = optional input left out
    outputs: tuple[int, ...]
    options: Mapping = field(default_factory=lambda: MappingProxyType({}))

    def to_dict(self) -> dict:
        return {
            "index": self.index,
            "op": self.opcode,
            "version": self.version,
            "inputs": list(self.inputs),
            "outputs": list(self.outputs),
            "options": dict(self.options),
        }


@dataclass(frozen=True)
class Graph:
    """The main subgraph of a model, plus file-level facts."""

    name: str
    tensors: tuple[Tensor, ...]
    operators: tuple[Operator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    opcodes: tuple[str, ...]  # the opcode table (may list ops no operator uses)
    num_subgraphs: int
    file_size: int
    sha256: str
    description: str = ""
    source: str = ""

    @property
    def ops_used(self) -> list[str]:
        """Ops actually executed, in first-use order (not the opcode table)."""
        seen: dict[str, None] = {}
        for op in self.operators:
            seen.setdefault(op.opcode, None)
        return list(seen)

    def op_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for op in self.operators:
            counts[op.opcode] = counts.get(op.opcode, 0) + 1
        return counts

    def input_tensors(self) -> list[Tensor]:
        return [self.tensors[i] for i in self.inputs]

    def output_tensors(self) -> list[Tensor]:
        return [self.tensors[i] for i in self.outputs]

    def tensor(self, index: int) -> Tensor:
        return self.tensors[index]

    def consumers(self) -> dict[int, list[int]]:
        """tensor index -> indices of the operators that read it."""
        out: dict[int, list[int]] = {}
        for op in self.operators:
            for t in op.inputs:
                if t >= 0:
                    out.setdefault(t, []).append(op.index)
        return out
