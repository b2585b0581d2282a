"""The timed runs of a device benchmark, appending to a :class:`~edgeq.bench.session.BenchState`:

* :func:`run_edgeq_loop` -- edgeq's protocol: a binary load per input, ``edgeq-run`` per timed inference;
* :func:`run_mlperf_loop` -- the MLPerf Tiny runner's flow: 5 windows of [``db`` download, ``infer N W``].

A fault (bad CRC, a missing line, a timeout, a boot banner) costs one retry: resync, reload, run again; too many in a
row stop the run. A result counts only when its frame checked out and (with a reference) its output verified
(:mod:`edgeq.bench.verify`).
"""

from __future__ import annotations

from edgeq.bench.protocol import Device, DeviceReset, FrameError
from edgeq.bench.session import BenchOptions, BenchState, Progress, fault_reason
from edgeq.bench.verify import check_mlperf_results, mismatch_detail
from edgeq.errors import DeviceError


def run_edgeq_loop(dev: Device, inputs: list[bytes], expected: list[bytes] | None, opts: BenchOptions,
                   state: BenchState, out_bytes: int | None, progress: Progress | None = None) -> None:
    """``opts.runs`` timed runs of the edgeq protocol (binary load + edgeq-run), appending to ``state``.
    With more inputs than runs, only the first ``opts.runs`` inputs are used."""
    loaded: int | None = None
    warm = True
    rechecking = False
    consecutive = 0
    run_timeout = opts.run_timeout
    i = len(state.samples) + state.mismatches
    while i < opts.runs:
        # runs go through the inputs in blocks (0,0,..,1,1,..): one upload per input, not one per run
        idx = i * len(inputs) // opts.runs if opts.runs >= len(inputs) else i
        try:
            if loaded != idx:
                wire0 = dev.link.tx_bytes
                dev.load(inputs[idx])
                state.upload_payload += len(inputs[idx])
                state.upload_wire += dev.link.tx_bytes - wire0
                loaded = idx
            w = opts.warmup if warm else 0
            r = dev.run(w, output_bytes=out_bytes, timeout=run_timeout * (1 + w))
        except FrameError as exc:  # includes DeviceReset and DeviceTimeout
            state.fault(exc)
            consecutive += 1
            if consecutive > opts.max_retries:
                raise DeviceError(f"giving up after {consecutive} faults in a row; last: {exc.one_line()}",
                                  where=dev.link.name, hint="check the cable / baud, or raise --max-retries")
            loaded = None
            if isinstance(exc, DeviceReset):
                warm = True
            if progress:
                progress.update(i, f"retry ({fault_reason(exc)})", force=True)
            dev.runs_done = len(state.samples) + state.mismatches
            resets = dev.resets
            dev.resync()
            if dev.resets > resets:  # a boot banner while resyncing: the device restarted, warm it up again
                warm = True
            continue
        consecutive = 0
        warm = False
        state.timing_crc = r.timing_crc if state.timing_crc is None else (state.timing_crc and r.timing_crc)
        # adapt the first-line deadline once an inference has been timed (so a lost command costs seconds, not minutes)
        run_timeout = max(opts.timeout, 10 * r.roundtrip_s)
        if expected is not None:
            if r.output != expected[idx]:
                if not rechecking:  # re-check with a fresh load before calling it a mismatch
                    rechecking = True
                    loaded = None
                    state.retries += 1
                    state.reasons["output recheck"] += 1
                    continue
                rechecking = False
                state.device_outputs.setdefault(idx, r.output)
                state.mismatches += 1
                if len(state.mismatch_details) < 20:
                    state.mismatch_details.append(mismatch_detail(i, idx, expected[idx], r.output))
                i += 1
                if progress:
                    progress.update(i, f"MISMATCH x{state.mismatches}")
                continue
            rechecking = False
            state.verified += 1
        state.device_outputs.setdefault(idx, r.output)
        sample = {"run": i, "input": idx, "ticks": r.ticks, "roundtrip_ms": round(r.roundtrip_s * 1e3, 3)}
        state.samples.append(sample)
        i += 1
        if progress:
            progress.update(i, f"retries {state.retries}")



def run_mlperf_loop(dev: Device, inputs: list[bytes], expected: list[bytes] | None, ref, opts: BenchOptions,
                    state: BenchState, iterations: int | None, warmup: int | None,
                    progress: Progress | None = None, payloads: list[bytes] | None = None,
                    db_format: str = "raw") -> None:
    """The runner's performance flow: 5 windows of [download, infer N W], each with a different input.
    ``iterations``/``warmup`` None: what the runner uses for the device's model id. ``payloads``: what goes over
    the wire per input when the device's ``db`` format differs from its input bytes (float32 for ad01)."""
    from edgeq.bench import mlperf

    name, profile, model_id = mlperf.identify(dev)
    n_def, w_def = mlperf.RUNNER_ITERATIONS.get(model_id, (70, 10))
    iterations = n_def if iterations is None else iterations
    warmup = w_def if warmup is None else warmup
    state.mlperf = {"name": name, "profile": profile, "model_id": model_id, "iterations": iterations,
                    "warmup": warmup}
    for k in range(mlperf.WINDOWS):
        idx = k % len(inputs)
        tries = 0
        while True:
            try:
                wire = mlperf.db_load(dev, (payloads or inputs)[idx])
                win = mlperf.infer(dev, iterations, warmup, timeout=max(mlperf.INFER_TIMEOUT_S, opts.run_timeout))
                break
            except FrameError as exc:
                state.fault(exc)
                tries += 1
                if tries > opts.max_retries:
                    raise DeviceError(f"giving up after {tries} faults in a row; last: {exc.one_line()}")
                dev.runs_done = k
                dev.resync()
        state.upload_payload += len((payloads or inputs)[idx])
        state.upload_wire += wire
        ok = None
        if expected is not None and ref is not None and win.results:  # the scores the reference firmware prints
            ok = check_mlperf_results(win.results, expected[idx], (payloads or inputs)[idx], ref, model_id, db_format)
        if expected is not None and win.output is not None:  # edgeq firmware: also the raw output, CRC-checked
            ok = (ok is not False) and win.output == expected[idx]
        if ok is not None:
            if ok:
                state.verified += 1
            else:
                state.mismatches += 1
                state.mismatch_details.append({"window": k, "input": idx, "results": win.results[:16]})
        d = {"window": k, "input": idx, "iterations": iterations, "warmup": warmup, "elapsed_us": win.elapsed_us,
             "latency_us": round(win.latency_us, 3), "throughput": round(win.throughput, 3),
             "results": win.results, "verified": ok}
        if ok is not False:
            state.windows.append(d)
        if progress:
            progress.update(k + 1, f"window {k + 1}/{mlperf.WINDOWS}")

