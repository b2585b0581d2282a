"""The serial benchmark protocol, as data: the one source of truth for the host harness (edgeq.bench) and for the
device side (firmware_templates/protocol/, rendered with these values). Described in docs/protocol.md.

Framing follows MLPerf Tiny / EEMBC: host -> device commands are ASCII words separated by one space and terminated
by ``%``; device -> host lines end with ``\\r\\n``; every command is answered last by ``m-ready``.
"""

from __future__ import annotations

PROTOCOL_VERSION = 1

# --- framing ----------------------------------------------------------------------------------------------------
CMD_TERMINATOR = "%"
CMD_DELIMITER = " "
CMD_MAX = 80  # characters, terminator included (EEMBC EE_CMD_SIZE)
LINE_END = "\r\n"
READY = "m-ready"

# --- EEMBC (MLPerf Tiny runner) commands ---------------------------------------------------------------------------
CMD_NAME = "name"
CMD_PROFILE = "profile"
CMD_HELP = "help"
CMD_TIMESTAMP = "timestamp"
CMD_DB = "db"  # "db load N", "db <hex>", "db print"
CMD_INFER = "infer"  # "infer N [W]"
CMD_RESULTS = "results"
INFER_DEFAULT_WARMUP = 10
MLPERF_DB_CHUNK = 31  # bytes per "db <hex>" command, as the MLPerf runner sends them directly
MLPERF_PROFILE = "ULPMark for tinyML Firmware V0.0.1"
DUT_NAME = "edgeq"

# Device replies (prefixes; the device prints them followed by the value)
MSG_NAME = "m-name-dut-["
MSG_PROFILE = "m-profile-["
MSG_MODEL = "m-model-["
MSG_EXPECTING = "m-[Expecting "
MSG_LOAD_DONE = "m-load-done"
MSG_LAP_US = "m-lap-us-"
MSG_WARMUP_START = "m-warmup-start-"
MSG_WARMUP_DONE = "m-warmup-done"
MSG_INFER_START = "m-infer-start-"
MSG_INFER_DONE = "m-infer-done"
MSG_RESULTS = "m-results-["
MSG_INIT_DONE = "m-init-done"
MSG_TIMESTAMP_MODE = "m-timestamp-mode-performance"
MSG_TIMESTAMP_MODE_ENERGY = "m-timestamp-mode-energy"  # energy mode: `timestamp` pulses a GPIO, prints nothing
ERR_PREFIX = "e-["

# --- edgeq extensions ------------------------------------------------------------------------------------------
CMD_INFO = "edgeq-info"  # -> "m-info-{json}"
CMD_LOAD = "edgeq-load"  # "edgeq-load N CRC32HEX" -> "m-bin-ready", N raw bytes, -> "m-load-done" | "e-[crc mismatch]"
CMD_RUN = "edgeq-run"  # "edgeq-run W" -> "m-t-<ticks>-<crc32hex of the decimal digits>", "m-out-<hex>-<crc32hex>"
MSG_INFO = "m-info-"
MSG_BIN_READY = "m-bin-ready"
MSG_TICKS = "m-t-"
MSG_OUT = "m-out-"
MSG_BOOT = "m-boot-["  # "m-boot-[edgeq <model> <backend> <board>]": a reset if seen mid-run
ERR_CRC = "e-[crc mismatch]"
ERR_TIMEOUT = "e-[timeout]"
BIN_BYTE_TIMEOUT_MS = 2000  # device gives up on a binary load when a byte takes longer than this

#: MLPerf model ids for `profile` (m-model-[...]) by edgeq model name prefix
MLPERF_MODEL_IDS = {"kws": "kws01", "vww": "vww01", "ad01": "ad01", "pretrainedresnet": "ic01", "str_ww": "strww01"}


def crc32(data: bytes) -> int:
    """CRC-32/IEEE (zlib's), the checksum of binary loads and of m-out payloads."""
    import zlib

    return zlib.crc32(data) & 0xFFFFFFFF


def template_context() -> dict:
    """Every constant above, for rendering the device-side C (``{{ spec.CMD_MAX }}`` in templates)."""
    return {k: v for k, v in globals().items() if k.isupper()}
