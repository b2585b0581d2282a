"""The serial harness itself, against real edgeq firmware in QEMU (qemu-m4, portable backend, -icount):

1. upload efficiency (payload bytes / bytes on the wire, host -> device) of edgeq's binary load (`edgeq-load N CRC`
   + raw bytes) versus the MLPerf runner's hex upload (`db load N` + `db <hex>` commands of 31 bytes), and the wall
   time of one upload over QEMU's UART;
2. end to end: `edgeq bench --board qemu-m4 --firmware FW --model kws --runs 100` (emulator start, sync, model check,
   TFLM reference, 100 loads + runs + verifications, emulator stop), wall time; and the same figure with the firmware
   build included;
3. the harness's own overhead per inference: host CPU time of the harness process per timed run (the emulator runs in
   another process), and the host round trip of a run next to it.

    python benchmarks/serial.py                 # prints the Markdown report
    python benchmarks/serial.py --out benchmarks/results/serial.md
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
# this file is named serial.py: keep its folder off sys.path, or `import serial` (pyserial) would import it
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(REPO))

from edgeq.bench import mlperf  # noqa: E402
from edgeq.bench.harness import BenchOptions, bench_device  # noqa: E402
from edgeq.bench.protocol import Device  # noqa: E402
from edgeq.bench.transport import open_link  # noqa: E402
from edgeq.cli._out import markdown_table  # noqa: E402
from edgeq.targets.emulators import start_emulator  # noqa: E402
from edgeq.targets.export import export  # noqa: E402

MODELS = {"KWS (DS-CNN)": "kws_ref_model.tflite", "AD (FC autoencoder)": "ad01_int8.tflite"}


def models_dir() -> Path:
    env = os.environ.get("EDGEQ_SHARED_MODELS")
    return Path(env) if env else REPO.parent / "shared" / "models" / "mlperf-tiny"


def build(model: Path, out: Path) -> float:
    t = time.perf_counter()
    export(model, "qemu-m4", out, build=True, backend="portable")
    return time.perf_counter() - t


def upload_rows(name: str, model: Path, fw: Path, repeats: int) -> list[list]:
    emu = start_emulator("qemu-m4", fw)
    try:
        dev = Device(open_link(emu.url, connect_timeout=10))
        dev.sync()
        n = int(dev.info()["inputs"][0]["bytes"])
        rng = np.random.default_rng(0)
        rows = []
        for label in ("binary (edgeq-load + CRC)", "MLPerf hex db, 31 B/command"):
            wire, secs = 0, []
            for _ in range(repeats):
                data = rng.integers(-128, 128, n, dtype=np.int8).tobytes()
                t0, tx0 = time.perf_counter(), dev.link.tx_bytes
                if label.startswith("binary"):
                    dev.load(data)
                else:
                    mlperf.db_load(dev, data)
                secs.append(time.perf_counter() - t0)
                wire += dev.link.tx_bytes - tx0
            rows.append([name, label, n, round(wire / repeats), round(n * repeats / wire, 3),
                         round(1e3 * float(np.median(secs)), 1)])
        dev.link.close()
        return rows
    finally:
        emu.stop()


def end_to_end(model: Path, fw: Path, runs: int) -> dict:
    t_wall, t_cpu = time.perf_counter(), time.process_time()
    rep = bench_device(BenchOptions(board="qemu-m4", firmware=str(fw), model=str(model), runs=runs, progress=False))
    wall, cpu = time.perf_counter() - t_wall, time.process_time() - t_cpu
    return {"rep": rep, "wall": wall, "cpu": cpu}


def loop_overhead(model: Path, fw: Path, runs: int) -> dict:
    """CPU time of the harness in the timed loop only (no start-up, no reference): emulator started here."""
    from edgeq.bench.harness import BenchState, input_spec_from_info, make_inputs, run_edgeq_loop
    from edgeq.reference import load_reference

    emu = start_emulator("qemu-m4", fw)
    try:
        dev = Device(open_link(emu.url, connect_timeout=10))
        dev.sync()
        info = dev.info()
        inputs, _ = make_inputs(None, input_spec_from_info(info), 10, 0)
        expected = load_reference(model).run_many(inputs)
        state = BenchState()
        t_wall, t_cpu = time.perf_counter(), time.process_time()
        run_edgeq_loop(dev, inputs, expected, BenchOptions(runs=runs, warmup=1), state,
                       int(info["outputs"][0]["bytes"]))
        wall, cpu = time.perf_counter() - t_wall, time.process_time() - t_cpu
        rx, tx = dev.link.rx_bytes, dev.link.tx_bytes
        dev.link.close()
    finally:
        emu.stop()
    rt = [s["roundtrip_ms"] for s in state.samples]
    return {"cpu_ms": 1e3 * cpu / runs, "wall_ms": 1e3 * wall / runs, "rt_p50": float(np.median(rt)),
            "bytes_per_run": (rx + tx) / runs, "verified": state.verified, "ticks": state.samples[0]["ticks"]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=100, help="inferences in the end-to-end run (default 100)")
    p.add_argument("--uploads", type=int, default=10, help="uploads per method (default 10)")
    p.add_argument("--out", default=None, help="also write the Markdown report here")
    a = p.parse_args(argv)
    d = models_dir()
    tmp = Path(tempfile.mkdtemp(prefix="edgeq-bench-serial-"))
    fws, build_s = {}, {}
    for name, file in MODELS.items():
        fws[name] = tmp / Path(file).stem
        build_s[name] = build(d / file, fws[name])

    up = []
    for name, file in MODELS.items():
        up += upload_rows(name, d / file, fws[name], a.uploads)
    kws_name = "KWS (DS-CNN)"
    kws = d / MODELS[kws_name]
    e2e = end_to_end(kws, fws[kws_name], a.runs)
    rep = e2e["rep"]
    over = {name: loop_overhead(d / file, fws[name], 30) for name, file in MODELS.items()}

    lines = [
        "# Serial harness benchmark (benchmarks/serial.py)",
        "",
        f"Host: {platform.machine()}, Python {platform.python_version()}, {os.cpu_count()} CPUs; load average "
        f"{os.getloadavg()[0]:.2f}. Device: QEMU mps2-an386 (qemu-m4, Cortex-M4F), `-icount shift=0`, UART over a "
        "TCP socket; edgeq firmware with the portable backend. Timings on the device count emulated instructions; "
        "the wall times below are this host's.",
        "",
        "## 1. Upload efficiency (host -> device)",
        "",
        markdown_table(["model", "method", "payload B", "wire B / upload", "efficiency", "median ms / upload"], up),
        "",
        "Efficiency = payload bytes / bytes written to the wire for one input (command lines included).",
        "",
        f"## 2. End to end: {a.runs} KWS inferences on qemu-m4",
        "",
        markdown_table(["what", "seconds"], [
            [f"`edgeq bench --board qemu-m4 --firmware FW --model kws --runs {a.runs}` (start QEMU, sync, model "
             "check, TFLM reference, runs, verify, stop)", round(e2e["wall"], 2)],
            ["firmware build (`edgeq export --board qemu-m4 --build`, portable)", round(build_s[kws_name], 2)],
            ["both", round(e2e["wall"] + build_s[kws_name], 2)],
        ]),
        "",
        f"Runs {rep['runs']}, verified {rep['verified']} against {rep['reference']}, mismatches "
        f"{rep['mismatches']}, retries {rep['retries']}. Device latency p50 {rep['latency']['p50']:,.0f} "
        f"{rep['latency']['unit']} (std {rep['latency']['std']:,.0f}); host round trip p50 "
        f"{rep['host_roundtrip_ms']['p50']:.1f} ms per run (QEMU executes ~"
        f"{rep['latency']['p50'] / rep['host_roundtrip_ms']['p50'] / 1e3:,.0f} M instructions/s here).",
        "",
        "## 3. Harness overhead per inference (30 timed runs, after start-up)",
        "",
        markdown_table(["model", "harness CPU ms / run", "wall ms / run", "round trip p50 ms", "bytes on the wire / run",
                        "wire time / run at 115200 baud, ms"],
                       [[name, round(o["cpu_ms"], 2), round(o["wall_ms"], 1), round(o["rt_p50"], 1),
                         round(o["bytes_per_run"]), round(o["bytes_per_run"] * 10 / 115200 * 1e3, 1)]
                        for name, o in over.items()]),
        "",
        "Harness CPU = CPU time of the Python process (framing, CRCs, hex decoding, verification against the "
        "precomputed reference) per run; the emulator runs in another process. The round trip is send command -> "
        "last answer line and includes the emulated inference.",
    ]
    text = "\n".join(lines)
    print(text)
    if a.out:
        from edgeq._fs import atomic_write_text

        atomic_write_text(a.out, text + "\n")
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
