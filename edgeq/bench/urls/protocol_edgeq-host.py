"""``edgeq-host://PATH``: the host build of the benchmark firmware as a serial port (pyserial names a URL handler
module after its scheme, hence this module's name). The implementation is :class:`edgeq.bench.hostfw.Serial`."""

from edgeq.bench.hostfw import Serial

__all__ = ["Serial"]
