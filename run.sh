#!/usr/bin/env bash
# edgeq's two commands. Each one installs whatever is missing first (Debian/Ubuntu), and is fast when all is there:
#   ./run.sh demo [ARGS...]   set up, then run `edgeq demo` (on the emulated qemu-m4 board when no hardware is attached)
#   ./run.sh test [ARGS...]   set up, then run the test suite (extra ARGS go to pytest)
# Also: ./run.sh product [ARGS...]  the slow product suites: the wheel acceptance tests and the executable docs.
#   ./run.sh farm [ARGS...]  the board-farm suite (labgrid coordinator + exporters + ser2net + two QEMU boards).
#   ./run.sh train [ARGS...]  the suites that train Keras models (QAT, the demo, the accuracy report).
# Also: ./run.sh setup (only the set-up), ./run.sh bench (every script in benchmarks/),
#   ./run.sh fuzz [--minutes N] [--seed S]  the hostile-model fuzzer (tests/fuzz_models.py; default 5 minutes).
#   ./run.sh pi [--arch arm64] [--arch armhf]  the Raspberry Pi userland check (Debian bookworm roots, qemu-user)
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

# Debian packages the tests and the demo use: toolchains, emulators, Python venv support.
APT_PACKAGES=(
  python3 python3-venv python3-dev gcc make
  gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
  arduino-builder arduino-core-avr gcc-avr avr-libc simavr libsimavr-dev
  ser2net
)
EXTRAS="convert,pi,micro,dev,farm"
# ./run.sh pi: debootstrap + qemu-user (binfmt) for the emulated Raspberry Pi userland, zstd for its cached root
PI_APT_PACKAGES=(qemu-user-static binfmt-support debootstrap zstd)

log() { printf '[run.sh] %s\n' "$*" >&2; }

setup_apt() {
  local missing=()
  local want=("${APT_PACKAGES[@]}" "$@")
  for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null; then
    log "not a Debian/Ubuntu system: install these yourself: ${missing[*]}"
    return 0
  fi
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  log "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

setup_venv() {
  if [ ! -x "$PY" ]; then
    log "creating $VENV"
    python3 -m venv "$VENV"
  fi
  # Re-install only when the dependency declaration changed (or an earlier install did not finish).
  local stamp="$VENV/.edgeq-installed"
  local want
  want="$(sha256sum pyproject.toml | cut -d' ' -f1) $EXTRAS"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    log "installing edgeq[$EXTRAS] into $VENV (first time: a few minutes)"
    "$PY" -m pip install -q --upgrade pip
    "$PY" -m pip install -q -e ".[$EXTRAS]"
    echo "$want" > "$stamp"
  fi
}

setup() { setup_apt; setup_venv; }

# binfmt_misc mounted and the qemu-user handlers (with the F flag: the interpreter is opened at registration, so it
# works inside a chroot) registered
setup_binfmt() {
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    $sudo mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || log "cannot mount binfmt_misc"
  fi
  for h in qemu-aarch64 qemu-arm; do
    [ -e "/proc/sys/fs/binfmt_misc/$h" ] || $sudo update-binfmts --enable "$h" || log "cannot register $h"
  done
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
  setup) setup ;;
  demo)
    setup
    exec "$VENV/bin/edgeq" demo "$@"
    ;;
  test|product|farm|train)
    # test: every test but the suites with their own command; product: the wheel acceptance tests and the executable
    # docs; farm: the localhost board farm (tests/test_farm*.py); train: the tests that train Keras models
    setup
    case "$cmd" in
      test) sel="not product and not farm and not train" ;;
      *) sel="$cmd" ;;
    esac
    set +e
    "$PY" -m pytest -m "$sel" "$@"
    rc=$?
    set -e
    if [ $rc -eq 5 ]; then
      log "pytest collected no tests: that is a failure"
      exit 1
    fi
    exit $rc
    ;;
  fuzz)
    setup
    exec "$PY" tests/fuzz_models.py "$@"
    ;;
  pi)
    setup_apt "${PI_APT_PACKAGES[@]}"
    setup_venv
    setup_binfmt
    [ "$(id -u)" -eq 0 ] || exec sudo "$PY" tests/pi_userland.py "$@"
    exec "$PY" tests/pi_userland.py "$@"
    ;;
  bench)
    setup
    for b in benchmarks/*.py; do
      log "$b"
      "$PY" "$b"
    done
    ;;
  *)
    sed -n '2,8p' "$0" >&2
    exit 2
    ;;
esac
