"""A user's install, tested as a user has it.

The sdist is built from this checkout, the wheel from the sdist (what pip does for any source install), and the
wheel is installed NON-editable with only ``[pi]`` into a clean venv (no TensorFlow, no TFLM, no system packages).
That venv's ``edgeq`` then runs as a subprocess from a fresh folder, with relative paths, a path with a space and
``~`` (HOME points at a temporary folder), exactly as the README tells a Raspberry Pi or laptop user to work.

The venv is cached in pytest's cache folder under a key made of the wheel's contents, pyproject.toml and the Python
version, so a re-run only rebuilds the wheel (a few seconds) unless the package changed.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, require_tool

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

APT_ARM = "gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"
APT_AVR = "arduino-builder arduino-core-avr gcc-avr avr-libc"
DIGITS = REPO / "examples" / "arduino" / "digits_int8.tflite"  # an edgeq-made QAT digits CNN small enough for an Uno


# ---- building and installing ----------------------------------------------------------------------------------------
def _package_files() -> dict[str, Path]:
    """What the wheel must hold: name in the wheel -> file in the checkout."""
    out = {}
    for root, wheel_root in ((REPO / "edgeq", "edgeq"), (REPO / "firmware_templates", "edgeq/firmware_templates")):
        for p in root.rglob("*"):
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc":
                out[f"{wheel_root}/{p.relative_to(root).as_posix()}"] = p
    return out


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> dict[str, Path]:
    """{"sdist": edgeq-*.tar.gz, "wheel": edgeq-*.whl}: the sdist built from the checkout, the wheel from the sdist."""
    pytest.importorskip("build", reason="the 'build' package makes the sdist (pip install 'edgeq[dev]')")
    out = tmp_path_factory.mktemp("dist")
    for cmd in ([sys.executable, "-m", "build", "--sdist", "--outdir", str(out), str(REPO)],):
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    sdist, = out.glob("edgeq-*.tar.gz")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(sdist)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"pip wheel {sdist.name} failed:\n{proc.stderr[-3000:]}"
    wheel, = out.glob("edgeq-*.whl")
    return {"sdist": sdist, "wheel": wheel}


def _wheel_digest(wheel: Path) -> str:
    """A hash of the wheel's contents (names and bytes), not of the zip file, whose timestamps change every build."""
    h = hashlib.sha256()
    with zipfile.ZipFile(wheel) as z:
        for name in sorted(z.namelist()):
            h.update(name.encode() + b"\0" + z.read(name) + b"\0")
    return h.hexdigest()


@pytest.fixture(scope="module")
def wheel_venv(dist, request, tmp_path_factory) -> Path:
    """A clean venv with the wheel installed (not editable) with only the [pi] extra."""
    key = hashlib.sha256(
        (_wheel_digest(dist["wheel"]) + hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()
         + sys.version).encode()).hexdigest()[:16]
    cache = Path(request.config.cache.mkdir("edgeq-wheel-venv")) if request.config.cache else \
        tmp_path_factory.mktemp("edgeq-wheel-venv")
    venv = cache / key
    stamp = venv / ".edgeq-acceptance-ready"
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stamp.is_file():
            for old in cache.iterdir():  # keep one venv: the current one
                if old.is_dir():
                    shutil.rmtree(old, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
            proc = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                                   f"{dist['wheel']}[pi]"], capture_output=True, text=True, timeout=1200,
                                  env=_clean_env())
            assert proc.returncode == 0, f"pip install {dist['wheel'].name}[pi] failed:\n{proc.stderr[-3000:]}"
            stamp.write_text(dist["wheel"].name + "\n")
    return venv


def _clean_env(home: Path | None = None, venv: Path | None = None) -> dict[str, str]:
    """The environment of a user who just installed edgeq: no PYTHONPATH (it would import the checkout instead of
    the installed package), no EDGEQ_* settings (e.g. no CMSIS-NN checkout)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("EDGEQ_", "PYTHON", "VIRTUAL_ENV", "PYTEST", "XDG_CACHE"))}
    if venv is not None:
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(venv)
    if home is not None:
        env["HOME"] = str(home)
    return env


class User:
    """A new user in a fresh folder (``cwd``) with their own HOME, running the installed ``edgeq``."""

    def __init__(self, venv: Path, root: Path):
        self.venv = venv
        self.cwd = root / "work"
        self.home = root / "home"
        self.cwd.mkdir()
        self.home.mkdir()
        self.env = _clean_env(self.home, venv)

    def run(self, *args: str, ok: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(self.venv / "bin" / "edgeq"), *args], cwd=self.cwd, env=self.env,
                              capture_output=True, text=True, timeout=timeout)
        if ok:
            assert proc.returncode == 0, f"edgeq {' '.join(args)}: exit {proc.returncode}\n{proc.stderr}"
            assert "Traceback" not in proc.stderr, proc.stderr
        return proc

    def json(self, *args: str, **kw) -> dict:
        return json.loads(self.run(*args, "--json", **kw).stdout)


@pytest.fixture
def user(wheel_venv, tmp_path, shared_models) -> User:
    u = User(wheel_venv, tmp_path)
    shutil.copyfile(shared_models / "kws_ref_model.tflite", u.cwd / "kws.tflite")
    (u.cwd / "models").mkdir()
    shutil.copyfile(shared_models / "ad01_int8.tflite", u.cwd / "models" / "ad.tflite")
    shutil.copyfile(DIGITS, u.cwd / "digits.tflite")
    return u


# ---- the packages -----------------------------------------------------------------------------------------------------
def test_wheel_and_sdist_hold_every_package_file(dist):
    expected = _package_files()
    assert "edgeq/targets/boards.json" in expected and "edgeq/firmware_templates/kernels/portable/edgeq_nn.h" in expected
    with zipfile.ZipFile(dist["wheel"]) as z:
        names = {n for n in z.namelist() if ".dist-info/" not in n}
        for name, src in expected.items():
            assert name in names, (f"{name} is missing from {dist['wheel'].name}: list it (or a glob) under "
                                   "[tool.setuptools.package-data] in pyproject.toml")
            assert z.read(name) == src.read_bytes(), f"{name} in the wheel differs from {src}"
    assert names == set(expected), f"unexpected files in the wheel: {sorted(names - set(expected))}"

    with tarfile.open(dist["sdist"]) as t:
        top = t.getnames()[0].split("/")[0]
        in_sdist = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    checkout = {str(p.relative_to(REPO)) for p in expected.values()}
    missing = sorted(checkout - in_sdist)
    assert not missing, f"missing from {dist['sdist'].name}: {missing}"
    for extra in ("README.md", "run.sh", "pyproject.toml", "docs/DEVELOPING.md", "tests/conftest.py"):
        assert extra in in_sdist, f"{extra} missing from the sdist ({top})"


def test_pyproject_lists_every_package():
    import tomllib

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "edgeq").rglob("__init__.py")}
    assert listed == found | {"edgeq.firmware_templates"}, (
        "pyproject.toml [tool.setuptools] packages must list every edgeq package: "
        f"missing {sorted(found - listed)}, stale {sorted(listed - found - {'edgeq.firmware_templates'})}")


def test_the_installed_edgeq_is_the_wheel_with_only_pi(wheel_venv, tmp_path):
    code = ("import importlib.util, json, edgeq, edgeq._resources as r; print(json.dumps({'file': edgeq.__file__, "
            "'templates': str(r.templates_dir()), 'missing': [m for m in ('tensorflow', 'tflite_micro', 'keras') "
            "if importlib.util.find_spec(m) is None], 'litert': importlib.util.find_spec('ai_edge_litert') is not None}))")
    proc = subprocess.run([str(wheel_venv / "bin" / "python"), "-c", code], cwd=tmp_path, env=_clean_env(tmp_path),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    site = str(wheel_venv / "lib")
    assert info["file"].startswith(site), info  # not the checkout
    assert info["templates"].startswith(site) and info["templates"].endswith("edgeq/firmware_templates"), info
    assert info["missing"] == ["tensorflow", "tflite_micro", "keras"], info
    assert info["litert"], info


# ---- a new user's session -----------------------------------------------------------------------------------------------
def test_boards_inspect_and_compile_for_the_host(user):
    table = user.run("boards").stdout
    assert "qemu-m4" in table and "uno" in table
    assert "atmega328p" in user.run("boards", "uno").stdout.lower()
    info = user.json("inspect", "kws.tflite")
    assert info["inputs"][0]["shape"] == [1, 49, 10, 1]

    # -o '~/...' as a script or a quoted argument passes it: edgeq expands it like the shell
    res = user.json("compile", "kws.tflite", "--target", "host", "-o", "~/host build", "--build")
    binary = user.home / "host build" / "model_host"
    assert Path(res["binary"]) == binary and binary.is_file()
    assert not (user.cwd / "~").exists()
    sample = (user.cwd.parent / "kws_sample.bin")
    sample.write_bytes(np.random.default_rng(0).integers(-128, 128, 490, dtype=np.int8).tobytes())
    out = subprocess.run([str(binary)], stdin=sample.open("rb"), capture_output=True, timeout=60)
    assert out.returncode == 0 and len(out.stdout) == 12, out.stderr
    try:
        from tflite_micro.python.tflite_micro import runtime as tflm
    except ImportError:
        return  # the TFLM comparison needs the [micro] extra in the test environment; the rest is checked
    interp = tflm.Interpreter.from_file(str(user.cwd / "kws.tflite"))
    interp.set_input(np.frombuffer(sample.read_bytes(), np.int8).reshape(1, 49, 10, 1), 0)
    interp.invoke()
    assert interp.get_output(0).tobytes() == out.stdout  # the installed compiler is bit-exact with TFLM


def test_export_build_flash_detach_and_bench_port_on_qemu_m4(user):
    """export -o 'a folder with a space' --build, flash --detach, then bench --port: the installed edgeq builds its
    own host reference (no TFLM in [pi]) and verifies every output."""
    require_tool("arm-none-eabi-gcc", APT_ARM)
    require_tool("qemu-system-arm", APT_ARM)
    exp = user.json("export", "models/ad.tflite", "--board", "qemu-m4", "-o", "my firmware", "--build")
    assert exp["out_dir"] == "my firmware"
    assert (user.cwd / "my firmware" / "build" / "firmware.elf").is_file()
    assert 0 < exp["flash_bytes"] < 4 * 1024 * 1024

    (user.cwd / "in puts").mkdir()
    np.save(user.cwd / "in puts" / "x.npy", np.random.default_rng(1).standard_normal((4, 640)).astype(np.float32))
    (user.cwd / "results").mkdir()
    emu = user.json("flash", "--board", "qemu-m4", "my firmware", "--detach")
    try:
        assert emu["detached"] and emu["url"].startswith("socket://127.0.0.1:")
        rep = user.json("bench", "--port", emu["url"], "--model", "models/ad.tflite", "--inputs", "in puts/x.npy",
                        "--runs", "4", "--no-progress", "-o", "results/run.json")
    finally:
        try:
            os.kill(emu["pid"], signal.SIGTERM)
        except ProcessLookupError:
            pass
    assert rep["complete"] and rep["runs"] == 4
    assert rep["reference"] == "portable-host"  # built by the installed package from its own kernels
    assert rep["verified"] == 4 and rep["mismatches"] == 0
    assert rep["latency"]["unit"] == "instructions"
    saved = json.loads((user.cwd / "results" / "run.json").read_text())
    assert saved["verified"] == 4 and saved["mismatches"] == 0


def test_bench_board_qemu_m4(user):
    require_tool("arm-none-eabi-gcc", APT_ARM)
    require_tool("qemu-system-arm", APT_ARM)
    rep = user.json("bench", "--board", "qemu-m4", "--model", "models/ad.tflite", "--runs", "5", "--no-progress")
    assert rep["complete"] and rep["board"] == "qemu-m4"
    assert rep["runs"] == 5 and rep["verified"] == 5 and rep["mismatches"] == 0
    assert rep["latency"]["p50"] > 0


def test_export_and_build_for_the_uno(user):
    require_tool("arduino-builder", APT_AVR)
    require_tool("avr-gcc", APT_AVR)
    exp = user.json("export", "digits.tflite", "--board", "uno", "-o", "uno sketch", "--build")
    build = user.cwd / "uno sketch" / "build"
    assert (build / "firmware.elf").is_file() and (build / "firmware.hex").is_file()
    assert 0 < exp["flash_bytes"] <= 32256 and 0 < exp["ram_bytes"] <= 2048
    assert list((user.cwd / "uno sketch").glob("*/*.ino"))


def test_bench_local_and_run_with_litert(user):
    rep = user.json("bench", "--local", "kws.tflite", "models/ad.tflite", "--runs", "5", "--warmup", "1")
    assert "litert" in json.dumps(rep).lower()
    np.save(user.cwd / "x.npy", np.random.default_rng(2).random((3, 49, 10, 1)).astype(np.float32))
    out = user.json("run", "kws.tflite", "--input", "x.npy")
    assert out["batch"] == 3 and np.asarray(out["outputs"][0]).shape == (3, 12)
    assert out["runtime"]["name"] == "litert"
