"""The serial benchmark protocol, as data: the one source of truth for the host harness (edgeq.bench) and for the
device side, which gets every constant and error text through one rendered header, ``edgeq_protocol_spec.h``
(:func:`c_defines`; the protocol itself, firmware_templates/protocol/edgeq_protocol.c, is plain C). Described in
docs/protocol.md. Floor 1: imported by targets/ (to render the header) and bench/ (to speak the protocol).

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
MSG_EXPECTING = "m-[Expecting "  # + N + MSG_EXPECTING_TAIL
MSG_EXPECTING_TAIL = " bytes]"
MSG_BUFFER = "m-buffer"  # `db print`: m-buffer-xx-xx-... (8 bytes a line)
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
ERR_PREFIX = "e-["  # every device error is one line "e-[<text>]"
ERR_SUFFIX = "]"

# --- edgeq extensions ------------------------------------------------------------------------------------------
CMD_INFO = "edgeq-info"  # -> "m-info-{json}"
CMD_LOAD = "edgeq-load"  # "edgeq-load N CRC32HEX" -> "m-bin-ready", N raw bytes, -> "m-load-done" | "e-[crc mismatch]"
CMD_RUN = "edgeq-run"  # "edgeq-run W" -> "m-t-<ticks>-<crc32hex of the decimal digits>", "m-out-<hex>-<crc32hex>"
MSG_INFO = "m-info-"
MSG_BIN_READY = "m-bin-ready"
MSG_TICKS = "m-t-"
MSG_OUT = "m-out-"
MSG_BOOT = "m-boot-["  # "m-boot-[edgeq <model> <backend> <board>]": a reset if seen mid-run
BIN_BYTE_TIMEOUT_MS = 2000  # device gives up on a binary load when a byte takes longer than this

# --- device error texts: the device prints e-[<text>], the pieces with numbers or words between them --------------
E_CRC = "crc mismatch"  # a binary load whose bytes do not match their CRC-32
E_TIMEOUT = "timeout"  # a binary load byte did not come within BIN_BYTE_TIMEOUT_MS
E_UNKNOWN_COMMAND = "Unknown command: "  # + the first word
E_TOO_MANY_WORDS = "too many words"
E_COMMAND_TOO_LONG = "command too long: at most "  # + CMD_MAX - 1 + E_COMMAND_TOO_LONG_TAIL
E_COMMAND_TOO_LONG_TAIL = " characters before the terminator"
E_NO_RUNTIME = "runtime not initialised: the model did not load"
E_INIT_FAILED = "runtime init failed (arena too small?)"
E_NO_INPUT = "no input loaded: use db load N + db HEX, or edgeq-load N CRC"
E_INCOMPLETE_INPUT = "incomplete input: the last db load gave "  # + N + E_INCOMPLETE_INPUT_OF + M + ..._TAIL
E_INCOMPLETE_INPUT_OF = " of the "
E_INCOMPLETE_INPUT_TAIL = " bytes the model needs"
E_INVOKE_FAILED = "invoke failed: "  # + the runtime's status code
E_NO_RESULTS = "no results yet: run infer first"
E_TOO_LARGE = " exceeds the "  # "db load N" / "edgeq-load N" + E_TOO_LARGE + M + E_TOO_LARGE_TAIL: a size refusal
E_TOO_LARGE_TAIL = "-byte input buffer"
E_BAD_NUMBER = "bad number '"  # + the word + "'"
E_DB_USAGE = "db needs: load N, print, or hex bytes"
E_DB_LOAD_COUNT = "Command 'db load' requires the # of bytes"
E_DB_LOAD_ZERO = "Command 'db load' must be >0 bytes"
E_DB_LOAD_PARTIAL = " is not a whole number of input elements"  # "db load N" + this
E_DB_ONE_WORD = "db takes one word of hex digits"
E_DB_NOT_LOADING = "no db load in progress: send db load N first"
E_HEX_ODD = "Insufficient number of hex digits"
E_HEX_INVALID = "Invalid hex digit '"  # + the two characters + "'"
E_DB_TOO_MANY = " bytes is more than the "  # N + this + M + E_DB_TOO_MANY_TAIL
E_DB_TOO_MANY_TAIL = " still expected"
E_INFER_ITERATIONS = "Inference iterations must be >0"
E_INFER_WARMUP = "Inference warmup must be >=0"
E_LOAD_USAGE = "usage: edgeq-load N CRC (N > 0 bytes, CRC = 8 hex digits of their CRC-32)"
E_RUN_USAGE = "usage: edgeq-run W (W >= 0 warm-ups)"

ERR_CRC = ERR_PREFIX + E_CRC + ERR_SUFFIX
ERR_TIMEOUT = ERR_PREFIX + E_TIMEOUT + ERR_SUFFIX

#: MLPerf model ids for `profile` (m-model-[...]) by edgeq model name prefix
MLPERF_MODEL_IDS = {"kws": "kws01", "vww": "vww01", "ad01": "ad01", "pretrainedresnet": "ic01", "str_ww": "strww01"}


def crc32(data: bytes) -> int:
    """CRC-32/IEEE (zlib's), the checksum of binary loads and of m-out payloads."""
    import zlib

    return zlib.crc32(data) & 0xFFFFFFFF


def is_size_refusal(line: str) -> bool:
    """An ``e-[...]`` line refusing a load because it is larger than the device's input buffer (retrying cannot help)."""
    return line.startswith(ERR_PREFIX) and E_TOO_LARGE in line and E_TOO_LARGE_TAIL in line


def c_defines() -> list[tuple[str, str, int | str]]:
    """Every constant the device uses, as (C macro name, kind, value) for ``edgeq_protocol_spec.h``: kind ``int``
    (a number), ``char`` (one character) or ``str`` (a string literal). Host-only values (the MLPerf model-id table,
    the default db chunk) are not in it."""
    out: list[tuple[str, str, int | str]] = [("EDGEQ_PROTOCOL_VERSION", "int", PROTOCOL_VERSION),
                                             ("EDGEQ_PROTOCOL_VERSION_STR", "str", str(PROTOCOL_VERSION)),
                                             ("EDGEQ_CMD_TERMINATOR", "char", CMD_TERMINATOR),
                                             ("EDGEQ_CMD_MAX", "int", CMD_MAX),
                                             ("EDGEQ_BIN_BYTE_TIMEOUT_MS", "int", BIN_BYTE_TIMEOUT_MS),
                                             ("EDGEQ_INFER_DEFAULT_WARMUP", "int", INFER_DEFAULT_WARMUP)]
    for name, value in globals().items():
        if isinstance(value, str) and name.split("_", 1)[0] in ("CMD", "MSG", "E", "ERR") \
                and name not in ("CMD_TERMINATOR", "ERR_CRC", "ERR_TIMEOUT"):
            out.append((f"EDGEQ_{name}", "str", value))
    for name in ("LINE_END", "READY", "MLPERF_PROFILE", "DUT_NAME"):
        out.append((f"EDGEQ_{name}", "str", globals()[name]))
    return out
