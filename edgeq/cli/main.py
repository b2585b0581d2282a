"""``edgeq`` entry point.

Each sub-command lives in its own module ``edgeq.cli.<name>`` exposing ``HELP`` (one line), ``add_arguments(parser)``
and ``run(args) -> int``. Those modules import nothing heavy at module level, so ``edgeq --help`` stays fast and
works without TensorFlow. User mistakes (:class:`edgeq.errors.EdgeqError`) and bad options become one line on stderr
and exit 2; with ``--json`` stdout also gets exactly one JSON object ``{"error", "where", "hint"}`` (and nothing else).
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys

from edgeq import __version__
from edgeq.errors import EdgeqError, Terminated

#: sub-command name -> module (in the order ``--help`` lists them)
COMMANDS: dict[str, str] = {
    "inspect": "edgeq.cli.inspect_cmd",
    "quantize": "edgeq.cli.quantize_cmd",
    "evaluate": "edgeq.cli.evaluate_cmd",
    "qat": "edgeq.cli.qat_cmd",
    "compile": "edgeq.cli.compile_cmd",
    "boards": "edgeq.cli.boards_cmd",
    "analyze": "edgeq.cli.analyze_cmd",
    "export": "edgeq.cli.export_cmd",
    "flash": "edgeq.cli.flash_cmd",
    "bench": "edgeq.cli.bench_cmd",
    "run": "edgeq.cli.run_cmd",
    "demo": "edgeq.cli.demo_cmd",
}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr (what is wrong, where to read more) and exit 2, like every
    other user error."""

    json_errors = False  # set by main() when the command line has --json

    def error(self, message: str):
        if _Parser.json_errors:
            _print_json_error(message, where=self.prog, hint=f"see {self.prog} --help")
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def _print_json_error(message: str, *, where: str | None, hint: str | None) -> None:
    """The ``--json`` form of an error: exactly one JSON object on stdout."""
    import json

    print(json.dumps({"error": " ".join(message.split()), "where": where, "hint": hint}, indent=2), flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="edgeq",
        description="Keras -> INT8 .tflite -> C for microcontrollers, with on-device verification and benchmarks.",
    )
    parser.add_argument("--version", action="version", version=f"edgeq {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:  # a command whose module is not part of this build
            if exc.name == module_name:
                continue
            raise
        epilog = getattr(module, "EPILOG", None)
        p = sub.add_parser(name, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP),
                           epilog=epilog() if callable(epilog) else epilog,
                           formatter_class=argparse.RawDescriptionHelpFormatter if epilog else
                           argparse.HelpFormatter)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def expand_home(args: argparse.Namespace) -> None:
    """``~`` and ``~user`` at the start of an argument, expanded as the shell does for an unquoted word: a path
    given as ``--data=~/x.npy``, in quotes, or by a script reaches edgeq unexpanded. Relative paths stay relative
    (messages show them as the user typed them); code that hands a path to a tool running elsewhere makes it
    absolute itself."""
    for key, value in vars(args).items():
        if isinstance(value, str) and value.startswith("~"):
            setattr(args, key, os.path.expanduser(value))
        elif isinstance(value, list) and any(isinstance(v, str) and v.startswith("~") for v in value):
            setattr(args, key, [os.path.expanduser(v) if isinstance(v, str) else v for v in value])


def _raise_on_termination() -> None:
    """SIGTERM and SIGHUP raise :class:`Terminated` instead of ending the process on the spot, so that the emulators
    edgeq started are stopped and partial results saved (the default action would orphan QEMU)."""

    def handler(signum, frame):
        raise Terminated(signum)

    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None and signal.getsignal(sig) is signal.SIG_DFL:
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    _Parser.json_errors = "--json" in argv
    parser = build_parser()
    args = parser.parse_args(argv)
    expand_home(args)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    _raise_on_termination()
    as_json = bool(getattr(args, "json", False))
    try:
        code = args._run(args)
    except Terminated as exc:
        print(f"edgeq {args.command}: {exc}", file=sys.stderr)
        if as_json:
            _print_json_error(str(exc), where=f"edgeq {args.command}", hint=None)
        return 128 + exc.signum
    except EdgeqError as exc:
        print(f"edgeq {args.command}: error: {exc.one_line()}", file=sys.stderr)
        if as_json:
            _print_json_error(exc.message, where=exc.where, hint=exc.hint)
        return 2
    except KeyboardInterrupt:
        print(f"edgeq {args.command}: interrupted", file=sys.stderr)
        if as_json:
            _print_json_error("interrupted", where=f"edgeq {args.command}", hint=None)
        return 130
    except BrokenPipeError:
        # stdout closed early (e.g. piped into head): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
