"""``edgeq bench matrix``: every model on every labgrid place, one worker per place, resumable, one combined report.

For each (model, place) pair the place's worker:

1. builds the model's firmware for the place's board (once per model and board, kept in ``DIR/firmware/``);
2. runs ``edgeq bench --place P --flash FIRMWARE`` as a child process: it acquires the place
   (:func:`edgeq.bench.farm.acquire_place`), flashes the firmware onto it (:func:`edgeq.bench.farmfile.flash_place`),
   benchmarks it with every output verified and releases the place whatever happens (a child, because labgrid's
   client holds one coordinator session per process, and a terminated matrix stops it cleanly);
3. records the result in ``DIR/matrix-state.json`` (atomically, after every pair).

One worker per place, so a board never runs two benchmarks at once, and places run in parallel. A pair that fails
(flashing, acquiring, the link) is one line on stderr and in the report; the place's worker goes on with its next
pair and the other places are not affected. A re-run with the same ``DIR`` skips every pair the state file records as
finished (a complete benchmark, with or without mismatches) and runs the others again; a changed model file (another
SHA-256) is a new pair. At the end (also after a failure or Ctrl-C) ``DIR/matrix.md``, ``DIR/matrix.json`` and
``DIR/matrix.png`` hold the combined report.
"""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from edgeq.errors import DeviceError, EdgeqError, Terminated

STATE_FILE = "matrix-state.json"
STATE_VERSION = 1
#: pair statuses: a finished pair (not repeated by a re-run) is "ok" or "mismatch"
FINISHED = ("ok", "mismatch")
#: how long a terminated matrix waits for its workers to stop their children and release their places
STOP_WAIT_S = 60.0


@dataclass
class MatrixModel:
    id: str  # the name in tables and file names: the file's stem (plus a hash prefix when two stems collide)
    path: str
    sha256: str


@dataclass
class MatrixOptions:
    models: list[str]
    places: list[str]
    out_dir: str
    coordinator: str | None = None
    farm: Any = None  # edgeq.bench.farmfile.FarmFile
    runs: int = 20
    timeout: float = 3.0
    max_retries: int = 10
    seed: int = 0
    backend: str | None = None
    log: Callable[[str], None] = field(default=lambda line: print(line, file=sys.stderr, flush=True))


def _sha256(path: Path) -> str:
    from edgeq._fs import MAX_MODEL_BYTES, read_input_bytes
    from edgeq.errors import ModelError

    return hashlib.sha256(read_input_bytes(path, what=".tflite model", max_bytes=MAX_MODEL_BYTES,
                                           error=ModelError)).hexdigest()


def _models(paths: list[str]) -> list[MatrixModel]:
    from edgeq._fs import MAX_MODEL_BYTES, check_input_file

    out: list[MatrixModel] = []
    for p in paths:
        check_input_file(p, what=".tflite model", max_bytes=MAX_MODEL_BYTES)
        out.append(MatrixModel(Path(p).stem, str(Path(p).resolve()), _sha256(Path(p))))
    shas = [m.sha256 for m in out]
    for m in out:
        if shas.count(m.sha256) > 1:
            raise EdgeqError("the same model is listed twice", where=m.path, hint="list each model once")
    stems = [m.id for m in out]
    for m in out:
        if stems.count(m.id) > 1:  # two different files with one name: tell them apart by content
            m.id = f"{m.id}-{m.sha256[:8]}"
    return out


def pair_key(model: MatrixModel, place: str) -> str:
    return f"{model.id}@{place}#{model.sha256[:16]}"


# ------------------------------------------------------------------------------------------------------------ state
class MatrixState:
    """``DIR/matrix-state.json``: the options of the run and one record per pair; written atomically after every
    change, so an interrupted run loses at most the pairs that were running."""

    def __init__(self, out_dir: Path, options: dict):
        self.path = out_dir / STATE_FILE
        self.lock = threading.Lock()
        self.pairs: dict[str, dict] = {}
        self.options = options
        if self.path.exists():
            self._load()
        self._save()

    def _load(self) -> None:
        from edgeq._fs import MAX_TEXT_BYTES, read_input_bytes

        try:
            doc = json.loads(read_input_bytes(self.path, what="matrix state", max_bytes=MAX_TEXT_BYTES))
        except ValueError as exc:
            raise EdgeqError(f"unreadable matrix state: {exc}", where=str(self.path),
                             hint="give another -o folder, or delete the file to start over") from None
        if not isinstance(doc, dict) or doc.get("version") != STATE_VERSION or not isinstance(doc.get("pairs"), dict):
            raise EdgeqError("not an edgeq matrix state file", where=str(self.path),
                             hint="give another -o folder, or delete the file to start over")
        old = doc.get("options") or {}
        diff = [k for k in self.options if k in old and old[k] != self.options[k]]
        if diff:
            k = diff[0]
            raise EdgeqError(f"this folder holds a matrix run with {k}={old[k]!r}, not {self.options[k]!r}",
                             where=str(self.path.parent),
                             hint="resume with the same options, or give another -o folder")
        self.pairs = doc["pairs"]

    def _save(self) -> None:
        from edgeq._fmt import to_json
        from edgeq._fs import atomic_write_text

        atomic_write_text(self.path, to_json({"version": STATE_VERSION, "options": self.options,
                                              "pairs": self.pairs}) + "\n")

    def finished(self, key: str) -> dict | None:
        rec = self.pairs.get(key)
        return rec if rec and rec.get("status") in FINISHED else None

    def record(self, key: str, rec: dict) -> None:
        with self.lock:
            rec["attempts"] = int((self.pairs.get(key) or {}).get("attempts", 0)) + 1
            self.pairs[key] = rec
            self._save()


# ---------------------------------------------------------------------------------------------------------- workers
class _Matrix:
    def __init__(self, opts: MatrixOptions, models: list[MatrixModel], out_dir: Path, coordinator: str):
        self.opts = opts
        self.models = models
        self.out = out_dir
        self.coordinator = coordinator
        self.stop = threading.Event()
        self.children: set[subprocess.Popen] = set()
        self.children_lock = threading.Lock()
        self.build_locks: dict[tuple[str, str], threading.Lock] = {}
        self.builds_lock = threading.Lock()
        self.ran: list[str] = []  # pair keys run in this invocation
        self.boards: dict[str, str] = {}  # place -> edgeq board (farm file, else the place's labgrid tag "board")
        self.state: MatrixState | None = None

    # ---- firmware
    def firmware(self, model: MatrixModel, board: str) -> Path:
        """The model's firmware for ``board``, built once (kept in DIR/firmware/ across runs)."""
        with self.builds_lock:
            lock = self.build_locks.setdefault((model.id, board), threading.Lock())
        with lock:
            dest = self.out / "firmware" / f"{model.id}-{board}"
            meta_file = dest / "edgeq-project.json"
            if meta_file.is_file():
                try:
                    meta = json.loads(meta_file.read_text())
                except ValueError:
                    meta = {}
                fw = meta.get("firmware")
                if str(meta.get("sha256", "")).lower() == model.sha256 and fw and (dest / fw).is_file():
                    return dest
            from edgeq.targets.export import export

            export(model.path, board, dest, build=True, backend=self.opts.backend, force=True)
            return dest

    # ---- one pair
    def run_pair(self, model: MatrixModel, place: str) -> dict:
        """Build, then flash and benchmark in one acquisition of the place: ``edgeq bench --place P --flash FW``, a
        child process (labgrid's client keeps one coordinator session per process; a termination stops the child,
        which releases the place)."""
        board = self.boards[place]
        rec: dict[str, Any] = {"model": model.id, "model_path": model.path, "model_sha256": model.sha256,
                               "place": place, "board": board, "status": "failed", "error": None,
                               "runs": 0, "verified": 0, "mismatches": 0, "retries": 0, "latency": None,
                               "latency_us": None, "report": None, "firmware": None, "flash": None}
        t0 = time.monotonic()
        rec["started_at_s"] = round(time.time(), 3)
        try:
            fw = self.firmware(model, board)
            rec["firmware"] = str(fw.relative_to(self.out))
            if self.stop.is_set():
                raise Terminated(signal.SIGTERM)
            self.bench(model, place, fw, rec)
        except EdgeqError as exc:
            rec["error"] = exc.one_line()
        except Terminated:
            rec["status"] = "interrupted"
            rec["error"] = "interrupted"
        rec["elapsed_s"] = round(time.monotonic() - t0, 3)
        rec["finished_at_s"] = round(time.time(), 3)
        rec["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(rec["finished_at_s"]))
        return rec

    def bench(self, model: MatrixModel, place: str, fw: Path, rec: dict) -> None:
        runs_dir = self.out / "runs"
        runs_dir.mkdir(parents=True, exist_ok=True)
        report = runs_dir / f"{model.id}@{place}.json"
        report.unlink(missing_ok=True)  # a report from an earlier attempt must not pass for this one's
        argv = [sys.executable, "-m", "edgeq", "bench", "--place", place, "--coordinator", self.coordinator,
                "--flash", str(fw), "--model", model.path, "--runs", str(self.opts.runs),
                "--timeout", str(self.opts.timeout), "--max-retries", str(self.opts.max_retries),
                "--seed", str(self.opts.seed), "--no-progress", "--json", "-o", str(report)]
        if self.opts.farm is not None and self.opts.farm.path is not None:
            argv += ["--farm", str(self.opts.farm.path)]
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        with self.children_lock:
            self.children.add(proc)
        try:
            out, err = proc.communicate()
        finally:
            with self.children_lock:
                self.children.discard(proc)
        if report.is_file():
            rec["report"] = str(report.relative_to(self.out))
        rep = None
        try:
            rep = json.loads(out or b"null")
        except ValueError:
            pass
        if not isinstance(rep, dict) or "runs" not in rep:  # an error: the child's one line, else its partial report
            try:
                rep = json.loads(report.read_text()) if report.is_file() else None
            except ValueError:
                rep = None
        if isinstance(rep, dict) and "runs" in rep:
            lat = rep.get("latency") or {}
            rec.update(runs=rep.get("runs", 0), verified=rep.get("verified", 0), mismatches=rep.get("mismatches", 0),
                       retries=rep.get("retries", 0), latency=_lat(lat),
                       latency_us=_lat(rep.get("latency_us") or {}) if rep.get("latency_us") else None)
            if rep.get("flash"):
                rec["flash"] = rep["flash"].get("commands")
        if proc.returncode in (0, 1) and isinstance(rep, dict) and rep.get("complete"):
            rec["status"] = "ok" if proc.returncode == 0 and not rep.get("mismatches") else "mismatch"
            return
        if self.stop.is_set():
            raise Terminated(signal.SIGTERM)
        lines = [ln for ln in err.decode(errors="replace").splitlines() if ln.strip()]
        errs = [ln for ln in lines if "error:" in ln]
        text = (errs or lines or [f"edgeq bench exited with status {proc.returncode}"])[-1]
        if text.startswith("edgeq bench: error: "):
            text = text[len("edgeq bench: error: "):]
        raise DeviceError(text)

    def worker(self, place: str, todo: list[MatrixModel]) -> None:
        for model in todo:
            if self.stop.is_set():
                return
            key = pair_key(model, place)
            try:
                rec = self.run_pair(model, place)
            except Exception as exc:  # a bug must not take the other places down: report it as this pair's failure
                rec = {"model": model.id, "model_path": model.path, "model_sha256": model.sha256, "place": place,
                       "status": "failed", "error": f"{type(exc).__name__}: {exc}"}
            if rec["status"] == "interrupted":
                self.opts.log(f"matrix: {model.id} @ {place}: interrupted (runs again on resume)")
                return
            self.state.record(key, rec)
            self.ran.append(key)
            self.opts.log(f"matrix: {model.id} @ {place}: {pair_line(rec)}")

    def terminate_children(self) -> None:
        from edgeq.bench.farmfile import stop_running_flashes

        with self.children_lock:
            procs = list(self.children)
        for p in procs:
            if p.poll() is None:
                try:
                    p.send_signal(signal.SIGTERM)  # edgeq bench saves its partial results and closes the link
                except ProcessLookupError:
                    pass
        stop_running_flashes()


def _lat(lat: dict) -> dict | None:
    if not lat or lat.get("p50") is None:
        return None
    return {k: lat.get(k) for k in ("unit", "min", "p50", "mean", "p99", "max")}


def pair_line(rec: dict) -> str:
    """One line for a pair: status, latency, verified count, or the error."""
    if rec.get("status") in FINISHED:
        lat = rec.get("latency") or {}
        unit = lat.get("unit", "")
        text = (f"{rec['status']}, p50 {_num(lat.get('p50'))} / p99 {_num(lat.get('p99'))} {unit}, "
                f"{rec.get('verified', 0)}/{rec.get('runs', 0)} verified")
        if rec.get("mismatches"):
            text += f", {rec['mismatches']} MISMATCHES"
        return text
    return f"{rec.get('status', 'failed')}: {rec.get('error')}"


def _num(v) -> str:
    if v is None:
        return "-"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}"


# -------------------------------------------------------------------------------------------------------------- run
def run_matrix(opts: MatrixOptions) -> dict:
    """Run (or resume) the matrix; returns the combined report (also written to DIR). Raises :class:`EdgeqError`
    for bad options before anything runs; a failing pair is recorded, not raised."""
    from edgeq.bench.farm import coordinator_address
    from edgeq._plot import pyplot

    if not opts.models:
        raise EdgeqError("no models to run", where="--models", hint="--models A.tflite B.tflite, or models: in --farm")
    if not opts.places:
        raise EdgeqError("no places to run on", where="--places", hint="--places NAME ..., or places: in --farm")
    if len(set(opts.places)) < len(opts.places):
        raise EdgeqError("a place is listed twice", where="--places", hint="one worker per place: list each once")
    if opts.runs < 1:
        raise EdgeqError(f"--runs must be >= 1, got {opts.runs}")
    from edgeq.bench.farm import _labgrid

    _labgrid()  # a missing labgrid is one line before anything is built
    pyplot("the matrix plot (matrix.png)")
    models = _models(opts.models)
    out = Path(opts.out_dir).expanduser()
    from edgeq._fs import check_output_dir

    if out.exists() and not out.is_dir():
        raise EdgeqError("-o must be a folder (the matrix writes several files there)", where=str(out))
    if not out.exists():
        check_output_dir(out, what="matrix output folder")
    out.mkdir(parents=True, exist_ok=True)
    coordinator = coordinator_address(opts.coordinator or (opts.farm.coordinator if opts.farm else None))
    m = _Matrix(opts, models, out, coordinator)
    from edgeq.bench.farm import place_tags
    from edgeq.targets.boards import get_board

    tags = place_tags(opts.places, coordinator)  # every place exists (one line, exit 2, before anything is built)
    for place in opts.places:
        board = (opts.farm.place(place).board if opts.farm else None) or tags[place].get("board")
        if not board:
            raise EdgeqError("the place's board is not known", where=f"place {place}",
                             hint="board: in the farm file (--farm), or labgrid-client -p NAME set-tags board=BOARD")
        m.boards[place] = get_board(board).name
    m.state = MatrixState(out, {"runs": opts.runs, "seed": opts.seed, "backend": opts.backend})
    skipped: list[str] = []
    plan: dict[str, list[MatrixModel]] = {}
    for place in opts.places:
        for model in models:
            key = pair_key(model, place)
            rec = m.state.finished(key)
            if rec:
                skipped.append(key)
                opts.log(f"matrix: {model.id} @ {place}: finished in an earlier run ({rec['status']}), not repeated")
            else:
                plan.setdefault(place, []).append(model)
    threads = [threading.Thread(target=m.worker, args=(place, todo), name=f"edgeq-matrix-{place}", daemon=True)
               for place, todo in plan.items()]
    for t in threads:
        t.start()
    try:
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(timeout=0.2)
    except BaseException:  # Ctrl-C / SIGTERM: stop the children, let the workers release their places
        m.stop.set()
        m.terminate_children()
        deadline = time.monotonic() + STOP_WAIT_S
        for t in threads:
            t.join(timeout=max(0.1, deadline - time.monotonic()))
        write_report(m, models, opts, skipped)
        raise
    return write_report(m, models, opts, skipped)


def write_report(m: _Matrix, models: list[MatrixModel], opts: MatrixOptions, skipped: list[str]) -> dict:
    """matrix.json, matrix.md and matrix.png in DIR from the state file (every pair of this matrix)."""
    from edgeq._fmt import to_json
    from edgeq._fs import atomic_write_text

    with m.state.lock:
        state = {k: dict(v) for k, v in m.state.pairs.items()}
    pairs = []
    for model in models:
        for place in opts.places:
            key = pair_key(model, place)
            rec = state.get(key)
            if rec is None:
                rec = {"model": model.id, "model_path": model.path, "model_sha256": model.sha256, "place": place,
                       "status": "pending", "error": None}
            pairs.append({**rec, "key": key, "this_run": key in m.ran, "skipped": key in skipped})
    counts = {s: sum(1 for p in pairs if p["status"] == s) for s in ("ok", "mismatch", "failed", "pending")}
    boards = {}
    for p in pairs:
        if p.get("board"):
            boards.setdefault(p["place"], p["board"])
    report: dict[str, Any] = {
        "complete": counts["ok"] + counts["mismatch"] == len(pairs),
        "output_dir": str(m.out),
        "coordinator": m.coordinator,
        "runs": opts.runs,
        "models": [{"name": x.id, "path": x.path, "sha256": x.sha256} for x in models],
        "places": [{"name": p, "board": boards.get(p)} for p in opts.places],
        "counts": counts,
        "pairs": pairs,
        "state": str(m.state.path),
        "markdown": str(m.out / "matrix.md"),
        "plot": str(m.out / "matrix.png"),
    }
    text = matrix_markdown(report)
    atomic_write_text(m.out / "matrix.md", text + "\n")
    write_plot(report, m.out / "matrix.png")
    atomic_write_text(m.out / "matrix.json", to_json(report) + "\n")
    report["text"] = text
    return report


def matrix_markdown(report: dict) -> str:
    """The models x places grid (p50/p99, verified/runs, status), then one row per pair with its error."""
    from edgeq._fmt import markdown_table

    places = report["places"]
    by = {(p["model"], p["place"]): p for p in report["pairs"]}
    unit = _common_unit(report["pairs"])
    head = ["model \\ place"] + [f"{p['name']} ({p['board'] or '?'})" for p in places]
    rows = []
    for mdl in report["models"]:
        row = [mdl["name"]]
        for p in places:
            rec = by[(mdl["name"], p["name"])]
            if rec["status"] in FINISHED:
                lat = rec.get("latency") or {}
                cell = (f"{rec['status']}: p50 {_num(lat.get('p50'))} / p99 {_num(lat.get('p99'))}"
                        f"{'' if unit else ' ' + str(lat.get('unit', ''))}, {rec.get('verified', 0)}/"
                        f"{rec.get('runs', 0)} verified")
            else:
                cell = rec["status"]
            row.append(cell)
        rows.append(row)
    c = report["counts"]
    title = (f"# edgeq bench matrix: {len(report['models'])} models x {len(places)} places, {report['runs']} runs "
             f"each{f', latency in {unit}' if unit else ''}\n"
             f"{c['ok']} ok, {c['mismatch']} with mismatches, {c['failed']} failed, {c['pending']} not run")
    detail = markdown_table(
        ["model", "place", "board", "status", "p50", "p99", "unit", "verified", "runs", "mismatches", "retries",
         "error"],
        [[p["model"], p["place"], p.get("board") or "-", p["status"],
          _num((p.get("latency") or {}).get("p50")), _num((p.get("latency") or {}).get("p99")),
          (p.get("latency") or {}).get("unit", "-"), p.get("verified", 0), p.get("runs", 0), p.get("mismatches", 0),
          p.get("retries", 0), (p.get("error") or "").replace("|", "\\|")] for p in report["pairs"]])
    return f"{title}\n\n{markdown_table(head, rows)}\n\n{detail}"


def _common_unit(pairs: list[dict]) -> str | None:
    units = {(p.get("latency") or {}).get("unit") for p in pairs if p.get("latency")}
    return units.pop() if len(units) == 1 else None


def write_plot(report: dict, path: Path) -> Path:
    """Grouped bars: p50 latency per model, one bar per place, p99 as a whisker; a missing bar is a pair that did
    not finish (its status written at the bar's place)."""
    from edgeq._plot import plain_axis, pyplot, save_png

    plt = pyplot("the matrix plot (matrix.png)")
    models = [m["name"] for m in report["models"]]
    places = [p["name"] for p in report["places"]]
    by = {(p["model"], p["place"]): p for p in report["pairs"]}
    unit = _common_unit(report["pairs"])
    key = "latency" if unit else "latency_us"
    unit = unit or "us"
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(models) * max(1, len(places)) / 2 + 3), 4.5))
    width = 0.8 / max(1, len(places))
    values = [(by[(mdl, pl)].get(key) or {}).get("p50") for mdl in models for pl in places
              if by[(mdl, pl)]["status"] in FINISHED]
    values = [v for v in values if v]
    log = bool(values) and max(values) / min(values) > 50  # models far apart: each bar readable on a log axis
    if log:
        ax.set_yscale("log")
    floor = min(values) / 3 if log else 0.0
    top = 0.0
    for j, place in enumerate(places):
        xs, p50, err = [], [], []
        for i, mdl in enumerate(models):
            lat = by[(mdl, place)].get(key) if by[(mdl, place)]["status"] in FINISHED else None
            x = i - 0.4 + width * (j + 0.5)
            if lat and lat.get("p50"):
                xs.append(x)
                p50.append(lat["p50"])
                err.append(max(0.0, (lat.get("p99") or lat["p50"]) - lat["p50"]))
                top = max(top, lat["p50"] + err[-1])
                ax.text(x, lat["p50"] + err[-1], f"{lat['p50']:,.0f}", ha="center", va="bottom", fontsize=7)
            else:
                ax.text(x, floor or 0, by[(mdl, place)]["status"], rotation=90, ha="center", va="bottom", fontsize=8)
        ax.bar(xs, p50, width=width * 0.95, yerr=[[0] * len(err), err], capsize=3, label=place,
               bottom=floor if log else None)
        if log:  # bars drawn from the floor: their heights are value - floor
            for patch, v in zip(ax.patches[-len(p50):], p50):
                patch.set_height(v - floor)
    ax.set_xticks(list(range(len(models))))
    ax.set_xticklabels(models, fontsize=8)
    ax.set_ylabel(f"p50 latency ({unit}{', log scale' if log else ''}); whisker: p99")
    ax.set_ylim(floor or 0, (top * (3 if log else 1.15)) if top else 1)
    plain_axis(ax.yaxis)
    ax.set_title(f"edgeq bench matrix: {len(models)} models x {len(places)} places")
    if places:
        ax.legend(title="place", fontsize=8)
    return save_png(fig, path)
