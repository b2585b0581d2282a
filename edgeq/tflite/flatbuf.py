"""A tiny, bounds-checked FlatBuffers reader: just enough to walk a .tflite file without TensorFlow.

FlatBuffers in one paragraph: the file starts with a uint32 offset to the root *table*. A table starts with an int32
``soffset``; ``table - soffset`` is its *vtable*: uint16 vtable size, uint16 table size, then one uint16 per field
giving the field's offset inside the table (0 = absent, use the default). Scalars are stored inline; tables, strings
and vectors are stored as a uint32 offset relative to where the offset itself sits. A vector is a uint32 length
followed by its elements. All little-endian.

Every read is checked against the buffer, so a truncated or corrupted file raises :class:`FlatbufferError` instead of
reading garbage or looping.
"""

from __future__ import annotations

import struct

_U8 = struct.Struct("<B")
_U16 = struct.Struct("<H")
_I32 = struct.Struct("<i")
_U32 = struct.Struct("<I")


class FlatbufferError(ValueError):
    """The bytes are not a well-formed flatbuffer (for the part that was read)."""


class Buf:
    """Little-endian reads with bounds checks."""

    __slots__ = ("data", "size")

    def __init__(self, data: bytes | bytearray | memoryview):
        self.data = memoryview(data).cast("B") if not isinstance(data, bytes) else data
        self.size = len(data)

    def check(self, pos: int, n: int) -> None:
        if pos < 0 or n < 0 or pos + n > self.size:
            raise FlatbufferError(f"read of {n} bytes at offset {pos} is outside the {self.size}-byte file")

    def unpack(self, st: struct.Struct, pos: int):
        self.check(pos, st.size)
        return st.unpack_from(self.data, pos)[0]

    def u8(self, pos: int) -> int:
        return self.unpack(_U8, pos)

    def u16(self, pos: int) -> int:
        return self.unpack(_U16, pos)

    def i32(self, pos: int) -> int:
        return self.unpack(_I32, pos)

    def u32(self, pos: int) -> int:
        return self.unpack(_U32, pos)

    def deref(self, pos: int) -> int:
        """Follow a uoffset stored at ``pos``."""
        target = pos + self.u32(pos)
        if target >= self.size:
            raise FlatbufferError(f"offset at {pos} points past the end of the file")
        return target

    def table(self, pos: int) -> "Table":
        return Table(self, pos)

    def root(self) -> "Table":
        return Table(self, self.deref(0))


class Table:
    """One flatbuffer table; ``field`` numbers follow the order of the fields in the .fbs schema (0-based)."""

    __slots__ = ("buf", "pos", "vtable", "vsize")

    def __init__(self, buf: Buf, pos: int):
        self.buf = buf
        self.pos = pos
        self.vtable = pos - buf.i32(pos)
        self.vsize = buf.u16(self.vtable)
        if self.vsize < 4 or self.vsize % 2:
            raise FlatbufferError(f"table at {pos} has a malformed vtable")
        buf.check(self.vtable, self.vsize)

    def _offset(self, field: int) -> int:
        slot = 4 + 2 * field
        if slot + 2 > self.vsize:
            return 0
        return self.buf.u16(self.vtable + slot)

    def has(self, field: int) -> bool:
        return self._offset(field) != 0

    def scalar(self, field: int, st: struct.Struct, default):
        off = self._offset(field)
        return default if off == 0 else self.buf.unpack(st, self.pos + off)

    def table(self, field: int) -> "Table | None":
        off = self._offset(field)
        return None if off == 0 else Table(self.buf, self.buf.deref(self.pos + off))

    def string(self, field: int, default: str = "") -> str:
        raw = self.bytes_vector(field)
        if raw is None:
            return default
        return bytes(raw).decode("utf-8", errors="replace")

    def _vector(self, field: int) -> tuple[int, int] | None:
        """(start of elements, length) or None when absent."""
        off = self._offset(field)
        if off == 0:
            return None
        vpos = self.buf.deref(self.pos + off)
        n = self.buf.u32(vpos)
        return vpos + 4, n

    def bytes_vector(self, field: int) -> memoryview | None:
        v = self._vector(field)
        if v is None:
            return None
        start, n = v
        self.buf.check(start, n)
        return memoryview(self.buf.data)[start:start + n]

    def scalar_vector(self, field: int, fmt: str) -> tuple | None:
        """A vector of scalars, ``fmt`` a struct code such as 'i', 'f', 'q', 'B'."""
        v = self._vector(field)
        if v is None:
            return None
        start, n = v
        itemsize = struct.calcsize("<" + fmt)
        self.buf.check(start, n * itemsize)
        return struct.unpack_from(f"<{n}{fmt}", self.buf.data, start)

    def table_vector(self, field: int) -> list["Table"]:
        v = self._vector(field)
        if v is None:
            return []
        start, n = v
        self.buf.check(start, 4 * n)
        return [Table(self.buf, self.buf.deref(start + 4 * i)) for i in range(n)]


U8, U16, I32, U32 = _U8, _U16, _I32, _U32
I8 = struct.Struct("<b")
BOOL = _U8
F32 = struct.Struct("<f")
U64 = struct.Struct("<Q")
