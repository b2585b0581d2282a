"""Read a .tflite flatbuffer into a :class:`~edgeq.tflite.graph.Graph` without TensorFlow.

Every structural problem (not a flatbuffer, truncated, indices out of range) becomes a one-line
:class:`~edgeq.errors.ModelError` naming the file and what is wrong.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from types import MappingProxyType

from edgeq import _fs
from edgeq.errors import ModelError
from edgeq.tflite import flatbuf as fb
from edgeq.tflite.graph import Graph, Operator, Quantization, Tensor
from edgeq.tflite.schema import BUILTIN_OPS, TENSOR_TYPES, decode_options

FILE_IDENTIFIER = b"TFL3"
#: refuse absurd files early instead of reading them into memory
MAX_MODEL_BYTES = _fs.MAX_MODEL_BYTES


def read_model(path: str | os.PathLike, *, validate: bool = True) -> Graph:
    """Read ``path`` (a .tflite file) and check its structure (:func:`edgeq.tflite.validate.validate`).

    ``validate=False`` returns a graph that may still have structural problems (``edgeq inspect`` lists them with
    :func:`edgeq.tflite.validate.problems`); every index is in range either way. Special files (devices, FIFOs) and
    files above :data:`MAX_MODEL_BYTES` are refused before reading.
    """
    data = _fs.read_input_bytes(path, what=".tflite model", max_bytes=MAX_MODEL_BYTES,
                                hint="check the path to the .tflite model", error=ModelError)
    return parse_model(data, source=str(path), validate=validate)


def parse_model(data: bytes, *, source: str = "<bytes>", validate: bool = True) -> Graph:
    """Parse .tflite bytes. ``source`` names the model in error messages; ``validate`` as in :func:`read_model`."""
    if len(data) == 0:
        raise ModelError("file is empty", where=source, hint="expected a .tflite flatbuffer")
    if len(data) < 8 or data[4:8] != FILE_IDENTIFIER:
        raise ModelError("not a .tflite file (no TFL3 identifier)", where=source,
                         hint="pass a model produced by the TFLite converter or 'edgeq quantize'")
    try:
        graph = _parse(data, source)
    except fb.FlatbufferError as exc:
        raise ModelError(f"corrupt or truncated .tflite: {exc}", where=source,
                         hint="re-export the model; the file is damaged") from None
    except (IndexError, ValueError, OverflowError, UnicodeDecodeError, RecursionError) as exc:
        raise ModelError(f"corrupt .tflite: {exc}", where=source, hint="re-export the model") from None
    if validate:
        from edgeq.tflite.validate import validate as _validate

        _validate(graph)
    return graph


def _parse(data: bytes, source: str) -> Graph:
    buf = fb.Buf(data)
    model = buf.root()
    version = model.scalar(0, fb.U32, 0)
    if version != 3:
        raise ModelError(f"unsupported schema version {version} (expected 3)", where=source)

    opcodes = tuple(_opcode_name(t) for t in model.table_vector(1))
    versions = tuple(t.scalar(2, fb.I32, 1) for t in model.table_vector(1))
    subgraphs = model.table_vector(2)
    if not subgraphs:
        raise ModelError("model has no subgraph", where=source)
    buffers = model.table_vector(4)
    description = model.string(3)

    sg = subgraphs[0]
    tensor_tables = sg.table_vector(0)
    tensors = tuple(_tensor(i, t, buffers, buf, source) for i, t in enumerate(tensor_tables))
    n_tensors = len(tensors)

    def tensor_list(values, what: str, allow_optional: bool) -> tuple[int, ...]:
        values = tuple(values or ())
        for v in values:
            if v == -1 and allow_optional:
                continue
            if not 0 <= v < n_tensors:
                raise ModelError(f"{what} refers to tensor {v}, but the model has {n_tensors} tensors",
                                 where=source, hint="the file is damaged")
        return values

    operators = []
    for i, op in enumerate(sg.table_vector(3)):
        code_index = op.scalar(0, fb.U32, 0)
        if code_index >= len(opcodes):
            raise ModelError(f"operator {i} uses opcode {code_index}, but the table has {len(opcodes)}", where=source)
        name = opcodes[code_index]
        operators.append(Operator(
            index=i,
            opcode=name,
            version=versions[code_index],
            inputs=tensor_list(op.scalar_vector(1, "i"), f"operator {i} ({name}) input", True),
            outputs=tensor_list(op.scalar_vector(2, "i"), f"operator {i} ({name}) output", False),
            options=MappingProxyType(decode_options(name, op.table(4))),
        ))

    return Graph(
        name=sg.string(4) or (Path(source).stem if source != "<bytes>" else "model"),
        tensors=tensors,
        operators=tuple(operators),
        inputs=tensor_list(sg.scalar_vector(1, "i"), "subgraph input", False),
        outputs=tensor_list(sg.scalar_vector(2, "i"), "subgraph output", False),
        opcodes=opcodes,
        num_subgraphs=len(subgraphs),
        file_size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        description=description,
        source=source,
    )


def _opcode_name(t: fb.Table) -> str:
    deprecated = t.scalar(0, fb.I8, 0)
    builtin = t.scalar(3, fb.I32, 0)
    code = max(deprecated, builtin)
    if code == 32:  # CUSTOM
        return f"CUSTOM:{t.string(1)}"
    if 0 <= code < len(BUILTIN_OPS):
        return BUILTIN_OPS[code]
    return f"UNKNOWN_OP_{code}"


def _tensor(index: int, t: fb.Table, buffers: list[fb.Table], buf: fb.Buf, source: str) -> Tensor:
    shape = tuple(t.scalar_vector(0, "i") or ())
    type_code = t.scalar(1, fb.I8, 0)
    if type_code not in TENSOR_TYPES:
        raise ModelError(f"tensor {index} has unknown type code {type_code}", where=source)
    dtype, _np, itemsize = TENSOR_TYPES[type_code]
    if any(d < 0 for d in shape):
        raise ModelError(f"tensor {index} has a negative dimension {shape}", where=source)
    buffer_index = t.scalar(2, fb.U32, 0)
    name = t.string(3)
    data = None
    if buffer_index:
        if buffer_index >= len(buffers):
            raise ModelError(f"tensor {index} ({name!r}) refers to buffer {buffer_index}, "
                             f"but there are {len(buffers)}", where=source)
        data = _buffer_bytes(buffers[buffer_index], buf)
    q = t.table(4)
    quant = None
    if q is not None:
        scale = q.scalar_vector(2, "f") or ()
        zp = q.scalar_vector(3, "q") or ()
        if scale and zp and len(zp) != len(scale):
            raise ModelError(f"tensor {index} ({name!r}) has {len(scale)} scales but {len(zp)} zero points",
                             where=source)
        quant = Quantization(
            scale=tuple(float(s) for s in scale),
            zero_point=tuple(int(z) for z in (zp or (0,) * len(scale))),
            axis=q.scalar(6, fb.I32, 0),
            min=tuple(q.scalar_vector(0, "f") or ()),
            max=tuple(q.scalar_vector(1, "f") or ()),
        )
    sig = t.scalar_vector(7, "i")
    tensor = Tensor(
        index=index, name=name, shape=shape, dtype=dtype, buffer=buffer_index, quant=quant,
        data=data if data else None, is_variable=bool(t.scalar(5, fb.BOOL, 0)),
        shape_signature=tuple(sig) if sig is not None else None, itemsize=itemsize,
    )
    if tensor.data is not None and _np is not None and len(tensor.data) != tensor.nbytes:
        raise ModelError(f"tensor {index} ({name!r}) holds {len(tensor.data)} bytes, but shape {list(shape)} "
                         f"of {dtype} needs {tensor.nbytes}", where=source, hint="the file is damaged")
    return tensor


def _buffer_bytes(b: fb.Table, buf: fb.Buf) -> bytes | None:
    raw = b.bytes_vector(0)
    if raw is not None and len(raw):
        return bytes(raw)
    offset = b.scalar(1, fb.U64, 0)
    size = b.scalar(2, fb.U64, 0)
    if offset > 1 and size:  # data stored after the flatbuffer (models > 2 GB layout)
        buf.check(offset, size)
        return bytes(buf.data[offset:offset + size])
    return None
