"""`edgeq bench matrix` and `edgeq flash --place` on a labgrid farm on localhost: a coordinator, one exporter per
board (each starts ser2net when its place is acquired), two emulated boards (two qemu-m4 processes, reflashed through
the places' flash command in the farm file) as two places; 3 models x 2 places in parallel, every output verified
against TFLM; an exporter killed mid-run fails that place's remaining pairs with one line each; a re-run resumes."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from conftest import assert_user_error, popen_cli, run_cli
from farmutil import LabgridFarm, ReflashableBoard, build_qemu_firmware, labgrid_client

pytestmark = [pytest.mark.slow, pytest.mark.qemu, pytest.mark.timeout(600)]

PLACES = ("board-a", "board-b")
RUNS = 8


@pytest.fixture(scope="module")
def models(shared_models, tmp_path_factory):
    """Three small models in a folder of their own (the farm file names them relatively)."""
    d = tmp_path_factory.mktemp("models")
    for src in (shared_models.parent / "tflite-micro" / "hello_world_int8.tflite",
                shared_models / "ad01_int8.tflite", shared_models / "kws_ref_model.tflite"):
        shutil.copy(src, d / src.name)
    return d


@pytest.fixture(scope="module")
def hello_fw(models, tmp_path_factory):
    return build_qemu_firmware(models / "hello_world_int8.tflite", tmp_path_factory.mktemp("fw") / "hello")


@pytest.fixture(scope="module")
def farm(hello_fw, tmp_path_factory):
    """Coordinator + two exporters on 127.0.0.1; place board-X is a reflashable qemu-m4 on a stable pty path."""
    import tempfile

    folder = tmp_path_factory.mktemp("farm")
    if not Path("/dev/shm").is_dir():
        pytest.skip("/dev/shm is not available (the boards' stable serial paths live there)")
    # labgrid's exporter serves only paths under /dev/ (a real host's are /dev/serial/by-id/... symlinks)
    links = Path(tempfile.mkdtemp(prefix="edgeq-farm-", dir="/dev/shm"))
    boards = {}
    try:
        for name in PLACES:
            boards[name] = ReflashableBoard(links / name, hello_fw / "build" / "firmware.elf")
        with LabgridFarm(folder / "lab") as lab:
            for name in PLACES:
                lab.add_board(name, str(boards[name].link))
            lab.boards = boards
            yield lab
    finally:
        for b in boards.values():
            b.stop()
        shutil.rmtree(links, ignore_errors=True)


def _farm_file(farm, models, path):
    """The farm file a user writes: each place's board and flash command, the models (relative), the runs."""
    places = {name: {"board": "qemu-m4", "flash": farm.boards[name].flash_command()} for name in PLACES}
    doc = {"coordinator": farm.address, "places": places,
           "models": ["hello_world_int8.tflite", "ad01_int8.tflite", "kws_ref_model.tflite"], "runs": RUNS}
    path.write_text(json.dumps(doc, indent=1))  # JSON is YAML
    return path


def _pairs(report: dict) -> dict:
    return {(p["model"], p["place"]): p for p in report["pairs"]}


def _overlap(a: dict, b: dict) -> bool:
    return a["started_at_s"] < b["finished_at_s"] and b["started_at_s"] < a["finished_at_s"]


@pytest.fixture(scope="module")
def matrix_run(farm, models, hello_fw, tmp_path_factory):
    """3 models x 2 places, from a fresh working folder with relative paths (-o out)."""
    cwd = tmp_path_factory.mktemp("work")
    _farm_file(farm, models, models / "farm.yaml")
    # the hello_world firmware the farm fixture built is reused (same model, same board: the matrix checks the hash)
    shutil.copytree(hello_fw, cwd / "out" / "firmware" / "hello_world_int8-qemu-m4")
    proc = run_cli("bench", "matrix", "--farm", str(models / "farm.yaml"), "-o", "out", "--json", cwd=cwd,
                   timeout=600)
    return cwd, proc


def test_matrix_3x2_in_parallel_every_output_verified(matrix_run, farm):
    cwd, proc = matrix_run
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    rep = json.loads(proc.stdout)
    assert rep["complete"] is True and rep["counts"] == {"ok": 6, "mismatch": 0, "failed": 0, "pending": 0}
    pairs = _pairs(rep)
    assert len(pairs) == 6
    for (model, place), p in pairs.items():
        assert p["status"] == "ok" and p["board"] == "qemu-m4", p
        assert p["runs"] == RUNS and p["verified"] == RUNS and p["mismatches"] == 0, p
        assert p["latency"]["unit"] == "instructions" and p["latency"]["p50"] > 0
        # the per-pair report is the bench's own, run on that place's serial port with that model
        sub = json.loads((cwd / "out" / p["report"]).read_text())
        assert sub["complete"] and sub["verified"] == RUNS and sub["reference"] == "tflm"
        assert sub["model"]["sha256"] == p["model_sha256"] and sub["port"].startswith("rfc2217://127.0.0.1:")
        assert p["flash"] and p["flash"][0][-1].endswith(".elf")
    # the same firmware costs the same instructions on both boards (to a timer tick: the place changes nothing)
    for model in ("hello_world_int8", "ad01_int8", "kws_ref_model"):
        a, b = (pairs[(model, pl)]["latency"]["p50"] for pl in PLACES)
        assert abs(a - b) <= 0.02 * a, (model, a, b)
    # one worker per place: a place never runs two pairs at once, and the two places ran at the same time
    for place in PLACES:
        mine = sorted((p for p in pairs.values() if p["place"] == place), key=lambda p: p["started_at_s"])
        assert all(a["finished_at_s"] <= b["started_at_s"] for a, b in zip(mine, mine[1:]))
    assert any(_overlap(a, b) for a in pairs.values() if a["place"] == "board-a"
               for b in pairs.values() if b["place"] == "board-b")
    # the combined report: Markdown grid models x places, JSON, PNG
    md = (cwd / "out" / "matrix.md").read_text()
    assert "| model \\ place | board-a (qemu-m4) | board-b (qemu-m4) |" in md
    assert md.count(f"{RUNS}/{RUNS} verified") == 6
    assert json.loads((cwd / "out" / "matrix.json").read_text())["counts"]["ok"] == 6
    assert (cwd / "out" / "matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # both places released
    assert farm.acquired_by("board-a") is None and farm.acquired_by("board-b") is None


def test_matrix_rerun_repeats_nothing_finished(matrix_run, models):
    cwd, first = matrix_run
    before = json.loads((cwd / "out" / "matrix-state.json").read_text())["pairs"]
    proc = run_cli("bench", "matrix", "--farm", str(models / "farm.yaml"), "-o", "out", cwd=cwd, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("finished in an earlier run (ok), not repeated") == 6, proc.stderr
    assert json.loads((cwd / "out" / "matrix-state.json").read_text())["pairs"] == before
    assert "| hello_world_int8 | ok: p50" in proc.stdout


def test_exporter_killed_mid_run_fails_its_pairs_then_resume(matrix_run, farm, models, tmp_path):
    """board-b's exporter host dies after its first pair: its two other pairs fail with one line each, board-a
    finishes all three; after the exporter is back, a re-run runs only the two failed pairs."""
    cwd = tmp_path / "work"
    shutil.copytree(matrix_run[0] / "out" / "firmware", cwd / "out" / "firmware")  # built once per session
    farm_yaml = str(models / "farm.yaml")
    state_file = cwd / "out" / "matrix-state.json"
    proc = popen_cli("bench", "matrix", "--farm", farm_yaml, "-o", "out", cwd=cwd)
    try:
        deadline = time.monotonic() + 300
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                pairs = json.loads(state_file.read_text())["pairs"].values()
            except (OSError, ValueError):
                pairs = []
            if any(p["place"] == "board-b" and p["status"] == "ok" for p in pairs):
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        farm.kill_exporter("board-b")
        out, err = proc.communicate(timeout=400)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = err.decode()
    (cwd / "stderr-killed-run.txt").write_text(err)  # what the user saw (kept beside the results for a look)
    assert proc.returncode == 1, err
    assert "Traceback" not in err, err
    state = json.loads(state_file.read_text())["pairs"]
    by_place = {pl: sorted(p["status"] for p in state.values() if p["place"] == pl) for pl in PLACES}
    assert by_place == {"board-a": ["ok", "ok", "ok"], "board-b": ["failed", "failed", "ok"]}, state
    for p in state.values():
        line = [ln for ln in err.splitlines() if ln.startswith(f"matrix: {p['model']} @ {p['place']}:")]
        assert len(line) == 1, err  # one line per pair
        if p["status"] == "failed":
            assert "failed: " in line[0] and p["error"] and "\n" not in p["error"], line
            assert p["verified"] == p["runs"] and p["mismatches"] == 0  # nothing wrong kept from a broken run
        else:
            assert p["verified"] == RUNS
    rep = json.loads((cwd / "out" / "matrix.json").read_text())
    assert rep["complete"] is False and rep["counts"] == {"ok": 4, "mismatch": 0, "failed": 2, "pending": 0}
    md = (cwd / "out" / "matrix.md").read_text()
    assert md.count("| failed |") == 2 or md.count("failed") >= 2
    assert farm.acquired_by("board-a") is None

    # the exporter host is back: the re-run runs the two failed pairs only
    farm.start_exporter("board-b")
    finished_before = {k: v for k, v in state.items() if v["status"] == "ok"}
    proc = run_cli("bench", "matrix", "--farm", farm_yaml, "-o", "out", "--json", cwd=cwd, timeout=400)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("finished in an earlier run (ok), not repeated") == 4, proc.stderr
    after = json.loads(state_file.read_text())["pairs"]
    for k, v in finished_before.items():
        assert after[k] == v  # not run again
    rerun = {k: v for k, v in after.items() if k not in finished_before}
    assert len(rerun) == 2 and all(v["status"] == "ok" and v["attempts"] == 2 and v["verified"] == RUNS
                                   for v in rerun.values()), rerun
    rep = json.loads(proc.stdout)
    assert rep["complete"] is True and rep["counts"]["ok"] == 6
    assert sum(p["this_run"] for p in rep["pairs"]) == 2 and sum(p["skipped"] for p in rep["pairs"]) == 4


def test_flash_place_then_bench(matrix_run, farm, models, tmp_path):
    """`edgeq flash --place` puts the firmware on the place through its flash command; the board then runs it."""
    fw = matrix_run[0] / "out" / "firmware"
    cwd = tmp_path / "work"
    cwd.mkdir()
    shutil.copytree(fw / "ad01_int8-qemu-m4", cwd / "ad-fw")
    shutil.copy(models / "ad01_int8.tflite", cwd / "ad.tflite")
    shutil.copy(models / "farm.yaml", cwd / "farm.yaml")
    proc = run_cli("flash", "--place", "board-a", "--farm", "farm.yaml", "ad-fw", "--json", cwd=cwd, timeout=120)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert res["place"] == "board-a" and res["board"] == "qemu-m4" and res["method"] == "command"
    assert res["image"].endswith("ad-fw/build/firmware.elf") and res["commands"][0][-1] == res["image"]
    assert farm.acquired_by("board-a") is None
    proc = run_cli("bench", "--place", "board-a", "--coordinator", farm.address, "--model", "ad.tflite", "--runs", "3",
                   "--json", cwd=cwd, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    assert rep["verified"] == 3 and rep["model"]["sha256"] == json.loads(
        (cwd / "ad-fw" / "edgeq-project.json").read_text())["sha256"] and rep["place"]["place"] == "board-a"
    # firmware for another board is refused before anything is flashed
    shutil.copytree(fw / "kws_ref_model-qemu-m4", cwd / "kws-fw")
    meta = json.loads((cwd / "kws-fw" / "edgeq-project.json").read_text())
    (cwd / "kws-fw" / "edgeq-project.json").write_text(json.dumps({**meta, "board": "qemu-m7"}))
    assert_user_error(run_cli("flash", "--place", "board-a", "--farm", "farm.yaml", "kws-fw", cwd=cwd, timeout=120),
                      "exported for qemu-m7", "board-a")
    assert farm.acquired_by("board-a") is None


def test_flash_place_errors_are_one_line(matrix_run, farm, models, tmp_path):
    fw = matrix_run[0] / "out" / "firmware" / "ad01_int8-qemu-m4"
    # no farm file: the place's serial port is a network one and nothing says how to flash it
    proc = run_cli("flash", "--place", "board-b", "--coordinator", farm.address, str(fw), timeout=120)
    assert_user_error(proc, "no flashing resource", "board-b")
    assert farm.acquired_by("board-b") is None
    # a flash command that fails: its last output line, the place released
    bad = tmp_path / "farm.yaml"
    bad.write_text(json.dumps({"coordinator": farm.address,
                               "places": {"board-b": {"board": "qemu-m4", "flash": "sh -c 'echo no probe >&2; exit 3'"}}}))
    assert_user_error(run_cli("flash", "--place", "board-b", "--farm", str(bad), str(fw), timeout=120),
                      "flashing failed (exit 3): no probe")
    assert farm.acquired_by("board-b") is None
    # flash: edgeq (edgeq's uploader on the place's port, here a device on this machine) for a board without one
    bad.write_text(json.dumps({"coordinator": farm.address, "places": {"board-b": {"board": "qemu-m4", "flash": "edgeq"}}}))
    assert_user_error(run_cli("flash", "--place", "board-b", "--farm", str(bad), str(fw), timeout=120),
                      "a qemu-m4 has no upload tool")
    # farm-file mistakes, before anything is acquired
    for doc, needle in ((["a"], "a farm file is a mapping"), ({"placez": {}}, "unknown key 'placez'"),
                        ({"places": {"board-b": {"board": "nope"}}}, "places.board-b.board"),
                        ({"places": {"board-b": {"flash": "x {imag}"}}}, "bad placeholder"),
                        ({"runs": 0}, "runs must be")):
        bad.write_text(json.dumps(doc))
        assert_user_error(run_cli("flash", "--place", "board-b", "--farm", str(bad), str(fw), timeout=60), needle)
    # the matrix: an unknown place, or a place whose board is unknown, is one line before anything is built
    assert_user_error(run_cli("bench", "matrix", "--models", str(models / "ad01_int8.tflite"), "--places", "nope",
                              "--coordinator", farm.address, "-o", str(tmp_path / "m"), timeout=60),
                      "no such labgrid place")
    assert_user_error(run_cli("bench", "matrix", "--models", str(models / "ad01_int8.tflite"), "--places", "board-a",
                              "--coordinator", farm.address, "-o", str(tmp_path / "m"), timeout=60),
                      "board is not known")
    assert not (tmp_path / "m" / "firmware").exists()


def test_matrix_terminated_releases_places_and_keeps_finished_pairs(matrix_run, farm, models, tmp_path):
    """SIGTERM mid-run (a cancelled CI job): the running pairs are stopped, both places released, the finished pairs
    kept in the state file, the report written; nothing of the run is left running."""
    import signal

    cwd = tmp_path / "work"
    shutil.copytree(matrix_run[0] / "out" / "firmware", cwd / "out" / "firmware")
    state_file = cwd / "out" / "matrix-state.json"
    proc = popen_cli("bench", "matrix", "--farm", str(models / "farm.yaml"), "-o", "out", cwd=cwd)
    try:
        deadline = time.monotonic() + 300
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                if json.loads(state_file.read_text())["pairs"]:
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = err.decode()
    assert proc.returncode == 128 + signal.SIGTERM and "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == "edgeq bench: terminated by signal 15", err
    assert farm.acquired_by("board-a") is None and farm.acquired_by("board-b") is None
    out_dir = str(cwd / "out")
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):  # no edgeq bench child of this run survived (the boards
        try:                                               # themselves, QEMUs on the farm host, keep running)
            argv = cmdline.read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        assert not ("edgeq" in argv and any(out_dir in a for a in argv)), argv
    pairs = json.loads(state_file.read_text())["pairs"].values()
    assert 1 <= len(pairs) < 6 and all(p["status"] == "ok" and p["verified"] == RUNS for p in pairs)
    rep = json.loads((cwd / "out" / "matrix.json").read_text())
    assert rep["complete"] is False and rep["counts"]["ok"] == len(pairs) and rep["counts"]["pending"] == 6 - len(pairs)
