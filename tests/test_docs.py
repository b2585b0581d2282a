"""Executable docs: every ```sh and ```python block of README.md, docs/*.md and examples/*/README.md runs, so a
documented command cannot rot.

The convention (docs/DEVELOPING.md, "Executable docs"):
* ```sh and ```python blocks run, in document order, all blocks of one document in the same fresh folder (files
  persist from block to block; each python block is a complete script of its own). A failing command fails the test.
* ```text, untagged and other non-code blocks (```json, ```c, ...) are output or reference and are not run.
  Tags that look like code but would silently not run (```bash, ```shell, ```console, ```py) are refused.
* A block directly preceded by a line ``<!-- doc-test: skip: REASON -->`` is not run; the REASON is mandatory.
* The folder starts with the standard files of :data:`STANDARD_FILES`, the MLPerf Tiny models and samples of
  ../shared/models/mlperf-tiny under their own names (kws_ref_model.tflite, ...) and, for examples/X/README.md, the
  files of examples/X/ (its scripts); ``edgeq`` and ``python`` on PATH are the ones under test; HOME is a fresh folder whose ``~/CMSIS-NN`` is the pinned CMSIS-NN checkout (when there is one).
* Processes a document leaves running (``edgeq flash --detach``) are stopped when the document is done.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import REPO, run_cli, shared_cmsis_nn_dir, shared_models_dir

DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted((REPO / "examples").glob("*/README.md"))]
RUN = {"sh", "python"}
NOT_RUN = {"", "text", "json", "c", "cpp", "toml", "yaml", "ini", "make", "makefile", "diff", "csv", "markdown", "md"}
#: the files every document's folder starts with (name -> what it is); docs/DEVELOPING.md lists them too
STANDARD_FILES = {
    "model.keras": "the small digits CNN (sklearn digits, 8x8x1 -> 10 logits), float, trained",
    "calib.npy": "200 training images, float32 (200, 8, 8, 1) in [0, 1]",
    "train.npz": "training set: x (1347, 8, 8, 1) float32, y (1347,) int64",
    "val.npz": "test set as x, y (450 samples)",
    "x_test.npy": "test images (450, 8, 8, 1)",
    "y_test.npy": "test labels (450,)",
    "model_int8.tflite": "model.keras quantized by `edgeq quantize --mode int8 --data calib.npy`",
    "kws.tflite": "the MLPerf Tiny keyword-spotting int8 model (kws_ref_model.tflite)",
    "lstm.tflite": "TFLM's int8 LSTM example (../shared/models/tflite-micro/trained_lstm_int8.tflite)",
}
BLOCK_TIMEOUT_S = 900
_FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})\s*([^`\s]*)\s*$")
_MARKER = re.compile(r"^\s*<!--\s*doc-test:(.*?)-->\s*$")
_SKIP = re.compile(r"^\s*skip:\s*(.*?)\s*$")


@dataclass
class Block:
    doc: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    skip: str | None  # the reason, when marked skip

    @property
    def where(self) -> str:
        return f"{_rel(self.doc)}:{self.line}"


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def parse_blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a Markdown file, with their skip markers. Raises AssertionError on a malformed
    or misplaced ``doc-test`` marker, an unknown code tag, or an unclosed fence."""
    lines = path.read_text(encoding="utf-8").splitlines()
    rel = _rel(path)
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = _MARKER.match(lines[i])
        if m:
            nxt = _FENCE.match(lines[i + 1]) if i + 1 < len(lines) else None
            assert nxt, f"{rel}:{i + 1}: a doc-test marker must be directly followed by a code fence"
            skip = _SKIP.match(m.group(1))
            assert skip, f"{rel}:{i + 1}: unknown doc-test marker {lines[i].strip()!r} (use: <!-- doc-test: skip: REASON -->)"
            assert skip.group(1), f"{rel}:{i + 1}: doc-test skip without a reason"
        f = _FENCE.match(lines[i])
        if not f:
            i += 1
            continue
        indent, fence, lang = f.group(1), f.group(2), f.group(3).lower()
        start = i
        body = []
        i += 1
        while i < len(lines) and not (lines[i].strip().startswith(fence[0] * len(fence))
                                       and set(lines[i].strip()) == {fence[0]}):
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
            i += 1
        assert i < len(lines), f"{rel}:{start + 1}: code fence never closed"
        assert lang in RUN or lang in NOT_RUN, (
            f"{rel}:{start + 1}: code block tagged {lang!r}: use ```sh or ```python (run by tests/test_docs.py) or "
            "```text (output, not run)")
        marker = _MARKER.match(lines[start - 1]) if start > 0 else None
        reason = _SKIP.match(marker.group(1)).group(1) if marker else None
        blocks.append(Block(path, start + 1, lang, "\n".join(body) + "\n", reason))
        i += 1
    return blocks


def runnable(doc: Path) -> list[Block]:
    return [b for b in parse_blocks(doc) if b.lang in RUN and b.skip is None]


# ---- what a document needs -------------------------------------------------------------------------------------------
APT_ARM = "apt-get install -y --no-install-recommends gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm make"
APT_AVR = "apt-get install -y --no-install-recommends arduino-builder arduino-core-avr gcc-avr avr-libc simavr libsimavr-dev"
NEEDS = [
    # (pattern in the runnable code, tools that must be on PATH, apt line)
    (re.compile(r"--build|qemu|edgeq bench --board|edgeq demo"), ("make", "gcc", "arm-none-eabi-gcc",
                                                                   "qemu-system-arm"), APT_ARM),
    (re.compile(r"--board uno"), ("arduino-builder", "avr-gcc", "simavr"), APT_AVR),
]


def _require(doc: Path, code: str) -> None:
    for pattern, tools, apt in NEEDS:
        if pattern.search(code):
            missing = [t for t in tools if not shutil.which(t)]
            if missing:
                pytest.skip(f"{doc.name} runs {', '.join(missing)}, which is not installed ({apt})")
    if "CMSIS-NN" in code and shared_cmsis_nn_dir() is None:
        pytest.skip(f"{doc.name} uses a CMSIS-NN checkout: ../shared/third_party/cmsis-nn is missing and "
                    "EDGEQ_CMSIS_NN_DIR is not set")


# ---- the folder ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def standard_files(tmp_path_factory, digits, digits_cnn_path) -> Path:
    import numpy as np

    models = shared_models_dir()
    if not (models / "kws_ref_model.tflite").is_file():
        pytest.skip(f"MLPerf Tiny models not found in {models} (set EDGEQ_SHARED_MODELS)")
    d = tmp_path_factory.mktemp("doc_files")
    shutil.copyfile(digits_cnn_path, d / "model.keras")
    np.save(d / "calib.npy", digits.x_train[:200])
    np.savez(d / "train.npz", x=digits.x_train, y=digits.y_train)
    np.savez(d / "val.npz", x=digits.x_test, y=digits.y_test)
    np.save(d / "x_test.npy", digits.x_test)
    np.save(d / "y_test.npy", digits.y_test)
    proc = run_cli("quantize", "model.keras", "--mode", "int8", "--data", "calib.npy", "-o", "model_int8.tflite",
                   cwd=d)
    assert proc.returncode == 0, proc.stderr
    shutil.copyfile(models / "kws_ref_model.tflite", d / "kws.tflite")
    lstm = models.parent / "tflite-micro" / "trained_lstm_int8.tflite"
    if not lstm.is_file():
        pytest.skip(f"{lstm} not found (the TFLM example models next to the MLPerf Tiny ones)")
    shutil.copyfile(lstm, d / "lstm.tflite")
    assert sorted(p.name for p in d.iterdir()) == sorted(STANDARD_FILES)
    return d


def _environment(root: Path) -> dict[str, str]:
    """PATH whose ``edgeq`` and ``python`` are the ones under test; a fresh HOME with ~/CMSIS-NN."""
    bin_dir, home = root / "bin", root / "home"
    bin_dir.mkdir()
    home.mkdir()
    # shims, not symlinks: a symlinked venv python would not find its venv (pyvenv.cfg is looked up next to it)
    for name, args in (("edgeq", ' -m edgeq "$@"'), ("python", ' "$@"'), ("python3", ' "$@"')):
        (bin_dir / name).write_text(f'#!/bin/sh\nexec "{sys.executable}"{args}\n')
        (bin_dir / name).chmod(0o755)
    cmsis = shared_cmsis_nn_dir()
    if cmsis is not None:
        (home / "CMSIS-NN").symlink_to(Path(cmsis).resolve())
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEQ_CMSIS")}
    env.update(PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", HOME=str(home), MPLBACKEND="Agg",
               PYTHONUNBUFFERED="1")
    env["EDGEQ_SHARED_MODELS"] = str(shared_models_dir())  # where examples/raspberrypi's scripts find their defaults
    return env


def _stop_leftovers(folder: Path, groups: list[int]) -> None:
    """Stop what the document left running: its blocks' process groups, and any process still working in its
    folder (an emulator started with --detach)."""
    for pgid in groups:
        try:
            os.killpg(pgid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
    folder = folder.resolve()
    for proc_dir in Path("/proc").glob("[0-9]*"):
        try:
            cwd = Path(os.readlink(proc_dir / "cwd"))
        except OSError:
            continue
        if cwd == folder or folder in cwd.parents:
            try:
                os.kill(int(proc_dir.name), signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
    time.sleep(0.2)


# ---- the tests -----------------------------------------------------------------------------------------------------
def test_every_document_follows_the_convention():
    """Markers have reasons, tags are known, fences close — and the docs do have examples that run."""
    total = 0
    for doc in DOCUMENTS:
        total += len(runnable(doc))
    assert total > 0


def test_the_parser_enforces_the_convention(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("text\n```sh\necho run\n```\n```text\nout\n```\n```\nuntagged\n```\n"
                   "<!-- doc-test: skip: needs a physical board -->\n```sh\nedgeq bench --port /dev/ttyACM0\n```\n"
                   "```python\nprint(1)\n```\n")
    blocks = parse_blocks(doc)
    assert [(b.lang, b.skip) for b in blocks] == [("sh", None), ("text", None), ("", None),
                                                  ("sh", "needs a physical board"), ("python", None)]
    assert [b.code for b in runnable(doc)] == ["echo run\n", "print(1)\n"]
    assert blocks[3].line == 12
    for bad, needle in [("<!-- doc-test: skip: -->\n```sh\nx\n```\n", "without a reason"),
                        ("<!-- doc-test: skip:   -->\n```sh\nx\n```\n", "without a reason"),
                        ("<!-- doc-test: skip -->\n```sh\nx\n```\n", "unknown doc-test marker"),
                        ("<!-- doc-test: skip: why -->\n\n```sh\nx\n```\n", "directly followed"),
                        ("```bash\nx\n```\n", "tagged 'bash'"),
                        ("```sh\nx\n", "never closed")]:
        doc.write_text(bad)
        with pytest.raises(AssertionError, match=needle):
            parse_blocks(doc)


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("doc", [d for d in DOCUMENTS if runnable(d)], ids=_rel)
def test_document_examples_run(doc, standard_files, tmp_path):
    blocks = runnable(doc)
    _require(doc, "".join(b.code for b in blocks))
    folder = tmp_path / "work"
    shutil.copytree(standard_files, folder)
    for f in sorted(shared_models_dir().iterdir()):  # the MLPerf Tiny models and samples, under their own names
        if f.is_file() and not (folder / f.name).exists():
            (folder / f.name).symlink_to(f)
    if doc.parent.parent == REPO / "examples":  # an example's README runs next to the example's own files
        for f in sorted(doc.parent.iterdir()):
            if f.is_file() and f.name != "README.md":
                shutil.copyfile(f, folder / f.name)
    env = _environment(tmp_path)
    groups: list[int] = []
    try:
        for b in blocks:
            cmd = ["bash", "-euo", "pipefail", "-c", b.code] if b.lang == "sh" else [sys.executable, "-c", b.code]
            p = subprocess.Popen(cmd, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 start_new_session=True)
            groups.append(p.pid)
            try:
                out, err = p.communicate(timeout=BLOCK_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                out, err = p.communicate()
                pytest.fail(f"{b.where}: the ```{b.lang} block did not finish within {BLOCK_TIMEOUT_S} s\n{b.code}")
            assert p.returncode == 0, (
                f"{b.where}: the ```{b.lang} block failed (exit {p.returncode})\n--- block\n{b.code}--- stdout (end)\n"
                f"{out[-3000:]}\n--- stderr (end)\n{err[-3000:]}")
    finally:
        _stop_leftovers(folder, groups)
