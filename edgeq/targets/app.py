"""The firmware applications besides the benchmark protocol (``edgeq export --app``): ``classify`` reads input
windows and prints the top-k labels with scores, ``regress`` prints the dequantized outputs. This module checks a
model against the app and gathers the app's template values and labels.
"""

from __future__ import annotations

from pathlib import Path

from edgeq._fs import MAX_MODEL_BYTES, MAX_TEXT_BYTES, check_input_file, read_input_bytes
from edgeq.errors import EdgeqError, UnsupportedError

#: what the firmware does: serve the benchmark protocol (default), or an application that prints results
APPS = ("bench", "classify", "regress")


def read_labels(path) -> list[str]:
    """Labels from a text file, one per line (blank lines at the end ignored)."""
    p = Path(path).expanduser()
    check_input_file(p, what="labels file", max_bytes=MAX_TEXT_BYTES)
    try:
        text = read_input_bytes(p, what="labels file", max_bytes=MAX_TEXT_BYTES).decode("utf-8")
    except UnicodeDecodeError:
        raise EdgeqError("the labels file is not UTF-8 text", where=str(p), hint="one label per line") from None
    out = [ln.strip() for ln in text.splitlines()]
    while out and not out[-1]:
        out.pop()
    if not out or any(not ln for ln in out):
        raise EdgeqError("the labels file has an empty label", where=str(p), hint="one label per line")
    return out


def metadata_labels(model_path: Path, n_classes: int) -> list[str] | None:
    """Class names packed into the model as TFLite metadata does it (associated files: a zip appended to the
    flatbuffer): the first ``.txt`` file with one non-empty line per class, else None."""
    import io
    import zipfile

    data = read_input_bytes(model_path, what=".tflite model", max_bytes=MAX_MODEL_BYTES)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            for info in z.infolist():
                if not info.filename.lower().endswith(".txt") or info.file_size > MAX_TEXT_BYTES:
                    continue
                lines = [ln.strip() for ln in z.read(info).decode("utf-8", "replace").splitlines()]
                while lines and not lines[-1]:
                    lines.pop()
                if len(lines) == n_classes and all(lines):
                    return lines
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return None
    return None


def app_context(app: str, graph, inputs: list[dict], outputs: list[dict], labels: list[str] | None,
                 top_k: int) -> dict:
    """Template values of the classify / regress app, checked against the model."""
    from edgeq.compiler.names import c_string

    where = graph.source or graph.name
    if len(inputs) != 1 or len(outputs) != 1:
        raise UnsupportedError(f"--app {app} takes a model with one input and one output; this one has "
                               f"{len(inputs)} and {len(outputs)}", where=where, hint="use the default --app bench")
    inp, out = inputs[0], outputs[0]
    ctypes = {"int8": "int8_t", "int16": "int16_t"}
    if inp["dtype"] not in ctypes or out["dtype"] not in ctypes or not inp["quantized"] or not out["quantized"]:
        raise UnsupportedError(f"--app {app} needs quantized int8/int16 input and output; this model has "
                               f"{inp['dtype']} -> {out['dtype']}", where=where,
                               hint="quantize with int8 I/O: edgeq quantize MODEL --mode int8 --data CALIB.npy")
    ctx = {"app": app, "n_values": inp["count"], "n_out": out["count"], "in_ctype": ctypes[inp["dtype"]],
           "out_ctype": ctypes[out["dtype"]], "in_dtype": inp["dtype"], "top_k": 0, "labels": None}
    if app == "classify":
        n = out["count"]
        if n < 2:
            raise UnsupportedError(f"--app classify needs a model with at least 2 class scores; its output has {n} "
                                   f"value", where=where, hint="use --app regress for a regression model")
        if labels is None:
            labels = [f"class{i}" for i in range(n)]
        elif len(labels) != n:
            raise EdgeqError(f"the labels file has {len(labels)} labels but the model has {n} classes",
                             where="--labels", hint="one label per line, in the order of the model's outputs")
        if not 1 <= int(top_k) <= n:
            raise EdgeqError(f"--top-k {top_k} must be between 1 and the {n} classes", where="--top-k")
        ctx.update(labels=[c_string(label, max_len=40) for label in labels],
                   top_k=int(top_k))
    return ctx
