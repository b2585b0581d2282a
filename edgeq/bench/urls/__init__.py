"""pyserial URL handlers of edgeq (``serial.protocol_handler_packages``): one module ``protocol_<scheme>`` per scheme,
as pyserial's own ``loop://`` and ``spy://``. :func:`edgeq.bench.transport.open_link` registers this package; any
pyserial program can do the same::

    import serial
    serial.protocol_handler_packages.append("edgeq.bench.urls")
    port = serial.serial_for_url("edgeq-host:///tmp/fw/firmware_host", timeout=1)

* ``edgeq-host://PATH``: the host build of the benchmark firmware (:mod:`edgeq.bench.hostfw`).
"""

PACKAGE = __name__
