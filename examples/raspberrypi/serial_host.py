"""Use the Raspberry Pi as the serial host for a microcontroller board plugged into its USB port.

The Pi does not need TensorFlow or tflite-micro for this: it talks edgeq's serial benchmark protocol to the board
and prints the report. This script checks the port, then calls edgeq's own CLI in-process, exactly as

    edgeq bench --port /dev/ttyACM0 --model kws_ref_model.tflite [--runs N] [--warmup W] [--json]

Examples:

    python serial_host.py --port /dev/ttyACM0 --model kws_ref_model.tflite
    python serial_host.py --port /dev/ttyUSB0 --model ad01_int8.tflite --runs 50 --json report.json
    python serial_host.py --list                     # show the serial ports the Pi sees
    python serial_host.py --dry-run                  # print the edgeq command without running it

Boards enumerate as /dev/ttyACM* (native USB CDC: Nano 33 BLE, Pico, STM32 Nucleo ST-Link) or /dev/ttyUSB*
(USB-serial bridges). Add yourself to the "dialout" group (sudo usermod -aG dialout $USER, then log in again) if
opening the port is refused. Ports may also be pyserial URLs such as socket://host:port or rfc2217://host:port.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
from pathlib import Path

from edgeq.cli.main import main as edgeq_main


def shared_models() -> Path:
    env = os.environ.get("EDGEQ_SHARED_MODELS")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "models" / "mlperf-tiny"


def list_ports() -> list[str]:
    try:
        from serial.tools import list_ports as lp
    except ImportError:  # pyserial is an edgeq dependency, but be kind
        return sorted(str(p) for pat in ("ttyACM*", "ttyUSB*") for p in Path("/dev").glob(pat))
    return [f"{p.device}  {p.description}" for p in sorted(lp.comports(), key=lambda p: p.device)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", default="/dev/ttyACM0", help="serial port or pyserial URL (default /dev/ttyACM0)")
    ap.add_argument("--model", type=Path, default=None,
                    help="the model the board runs (default: MLPerf Tiny kws_ref_model.tflite)")
    ap.add_argument("--runs", type=int, default=None, help="timed inferences (default: edgeq's)")
    ap.add_argument("--warmup", type=int, default=None, help="warm-up inferences (default: edgeq's)")
    ap.add_argument("--json", type=Path, default=None, help="save edgeq's JSON report to this file")
    ap.add_argument("--list", action="store_true", help="list the serial ports and exit")
    ap.add_argument("--dry-run", action="store_true", help="print the edgeq command and exit")
    args = ap.parse_args(argv)

    if args.list:
        ports = list_ports()
        print("\n".join(ports) if ports else "no serial ports found (is the board plugged in?)")
        return 0

    model = args.model or shared_models() / "kws_ref_model.tflite"
    cmd = ["bench", "--port", args.port, "--model", str(model)]
    if args.runs is not None:
        cmd += ["--runs", str(args.runs)]
    if args.warmup is not None:
        cmd += ["--warmup", str(args.warmup)]
    if args.json:
        cmd.append("--json")

    if args.dry_run:
        print("edgeq " + " ".join(cmd))
        return 0
    if "://" not in args.port and not Path(args.port).exists():
        found = ", ".join(p.split()[0] for p in list_ports()) or "none"
        print(f"serial_host.py: error: {args.port}: no such serial port (found: {found}; plug the board in, or "
              "pass --port)", file=sys.stderr)
        return 2
    if not model.is_file():
        print(f"serial_host.py: error: {model}: model file not found (pass --model)", file=sys.stderr)
        return 2

    if not args.json:
        return edgeq_main(cmd)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = edgeq_main(cmd)
    if code == 0:
        from edgeq._fs import atomic_write_text

        atomic_write_text(args.json, out.getvalue())
        print(f"report written to {args.json}")
    else:
        sys.stdout.write(out.getvalue())
    return code


if __name__ == "__main__":
    sys.exit(main())
