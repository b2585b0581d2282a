"""Raspberry Pi userland check (``./run.sh pi``): edgeq as a Raspberry Pi deployer runs it, in Debian bookworm
(what Raspberry Pi OS is built on) for arm64 (and armhf with ``--arch armhf``), emulated by qemu-user through binfmt.

For each architecture:
1. a minbase bookworm root made by debootstrap from the host's own Debian mirror (read from /etc/apt/sources.list*),
   cached as a zstd tarball in ~/.cache/edgeq-pi (a re-run restores it in seconds);
2. the host's CA bundle and pip configuration copied in, the edgeq wheel built here installed with ``[pi]`` into a
   venv (pip's cache is kept in the cache folder too);
3. inside the root (chroot; /proc with a Raspberry Pi 4 cpuinfo bound over it and QEMU_CPU=cortex-a72, /sys not
   mounted: LiteRT's CPU detection crashes or picks wrong kernels otherwise):
   ``edgeq run`` (outputs equal to the host's), ``edgeq bench --local`` (outputs digest equal to the host's),
   ``edgeq bench --port <pty>`` against a qemu-m4 firmware running on the host (every output verified against the
   portable C reference built in the root, instruction counts equal to the host's run of the same firmware), and
   ``edgeq run`` on person_detect (LiteRT refuses it: the message must say why).
Prints one line per check and the time taken; exits 1 on any difference.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EDGEQ_SHARED_MODELS", REPO.parent / "shared" / "models" / "mlperf-tiny"))
CACHE = Path(os.environ.get("EDGEQ_PI_CACHE", Path.home() / ".cache" / "edgeq-pi"))
SUITE = "bookworm"
INCLUDE = "python3,python3-venv,python3-pip,ca-certificates,gcc,libc6-dev,make"
# PyPI has no armv7l numpy wheels (pip would build numpy 2 from source, which needs a C++ compiler and hours): on
# 32-bit Raspberry Pi OS numpy comes from Debian (1.24, what tflite-runtime's numpy<2 wants) and the venv sees it.
ARCH_INCLUDE = {"armhf": ",python3-numpy"}
VENV_FLAGS = {"armhf": ["--system-site-packages"]}


def include(arch: str) -> str:
    return INCLUDE + ARCH_INCLUDE.get(arch, "")
QEMU_CPU = {"arm64": "cortex-a72", "armhf": "cortex-a7"}
MACHINE = {"arm64": "aarch64", "armhf": "armv7l"}
# /proc/cpuinfo of a Raspberry Pi 4 Model B (64-bit kernel), trimmed to one core
PI4_CPUINFO = """processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x0
CPU part\t: 0xd08
CPU revision\t: 3

Hardware\t: BCM2835
Revision\t: c03111
Serial\t\t: 10000000deadbeef
Model\t\t: Raspberry Pi 4 Model B Rev 1.1
"""


def log(msg: str) -> None:
    print(f"[pi] {msg}", flush=True)


def sh(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        raise SystemExit(f"[pi] FAILED: {' '.join(map(str, cmd))[:300]}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def host_mirror() -> str:
    """The Debian mirror the host's apt uses for bookworm (deb822 .sources or one-line .list)."""
    for f in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        for stanza in Path(f).read_text().split("\n\n"):
            fields = {}
            for ln in stanza.splitlines():
                if ":" in ln and not ln.lstrip().startswith("#"):
                    k, v = ln.split(":", 1)
                    fields[k.strip().lower()] = v.strip()
            suites = fields.get("suites", "").split()
            if SUITE in suites and "main" in fields.get("components", "").split() and fields.get("uris"):
                return fields["uris"].split()[0]
    for f in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
        if os.path.isfile(f):
            for ln in Path(f).read_text().splitlines():
                parts = ln.split()
                if parts[:1] == ["deb"] and SUITE in parts:
                    rest = [p for p in parts[1:] if not p.startswith("[")]
                    if rest and rest[1] == SUITE:
                        return rest[0]
    raise SystemExit("[pi] no Debian bookworm mirror in /etc/apt/sources.list*: this check needs a Debian host")


def check_binfmt(arch: str) -> None:
    name = {"arm64": "qemu-aarch64", "armhf": "qemu-arm"}[arch]
    p = Path("/proc/sys/fs/binfmt_misc") / name
    if not p.is_file() or "enabled" not in p.read_text():
        raise SystemExit(f"[pi] binfmt handler {name} is not registered ({p}): ./run.sh pi installs "
                         "qemu-user-static + binfmt-support and mounts binfmt_misc; is this a container without it?")
    if "flags: " in p.read_text() and "F" not in p.read_text().split("flags: ")[1].split()[0]:
        raise SystemExit(f"[pi] binfmt handler {name} lacks the F flag: the chroot cannot find the interpreter")


def root_tarball(arch: str) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    tar = CACHE / f"{SUITE}-{arch}-minbase.tar.zst"
    stamp = CACHE / f"{SUITE}-{arch}-minbase.include"
    if tar.is_file() and stamp.is_file() and stamp.read_text() == include(arch):
        return tar
    mirror = host_mirror()
    log(f"debootstrap {SUITE} {arch} (minbase + {include(arch)}) from the host's mirror: a few minutes, once")
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        root = Path(tmp) / "root"
        sh(["debootstrap", f"--arch={arch}", "--variant=minbase", f"--include={include(arch)}", SUITE, str(root), mirror],
           timeout=3000)
        for deb in (root / "var" / "cache" / "apt" / "archives").glob("*.deb"):
            deb.unlink()  # what `apt-get clean` does: the packages are installed, their .debs need no caching
        sh(["tar", "-I", "zstd -T0 -3", "-C", str(root), "-cf", str(tar) + ".part", "."], timeout=600)
        os.replace(str(tar) + ".part", tar)
    stamp.write_text(include(arch))
    log(f"root cached: {tar} ({tar.stat().st_size / 2**20:.0f} MiB, {time.monotonic() - t0:.0f} s)")
    return tar


class Chroot:
    """An extracted root with /proc (Pi 4 cpuinfo bound over it), /dev and /dev/pts; unmounted and removed on exit."""

    def __init__(self, tar: Path, arch: str):
        self.arch = arch
        self.dir = Path(tempfile.mkdtemp(prefix=f"edgeq-pi-{arch}-", dir=CACHE))
        self.mounts: list[Path] = []
        sh(["tar", "-I", "zstd", "-C", str(self.dir), "-xf", str(tar)], timeout=600)

    def mount(self, *args: str, target: Path) -> None:
        target.mkdir(parents=True, exist_ok=True) if not target.exists() else None
        sh(["mount", *args, str(target)])
        self.mounts.append(target)

    def __enter__(self) -> "Chroot":
        r = self.dir
        self.mount("-t", "proc", "proc", target=r / "proc")
        cpuinfo = r / "tmp" / "pi4-cpuinfo"
        cpuinfo.write_text(PI4_CPUINFO)
        self.mount("--bind", str(cpuinfo), target=r / "proc" / "cpuinfo")
        self.mount("--bind", "/dev", target=r / "dev")
        self.mount("--bind", "/dev/pts", target=r / "dev" / "pts")
        # trust what the host trusts, use the host's pip configuration (index, proxy)
        shutil.copyfile("/etc/ssl/certs/ca-certificates.crt", r / "etc/ssl/certs/ca-certificates.crt")
        shutil.copyfile("/etc/resolv.conf", r / "etc/resolv.conf") if os.path.isfile("/etc/resolv.conf") else None
        for conf in ["/etc/pip.conf", os.path.expanduser("~/.config/pip/pip.conf"), os.path.expanduser("~/.pip/pip.conf"),
                     os.environ.get("PIP_CONFIG_FILE", "")]:
            if conf and os.path.isfile(conf):
                dest = r / ("root/.config/pip/pip.conf" if conf.startswith(os.path.expanduser("~")) else conf.lstrip("/"))
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(conf, dest)
        pipcache = CACHE / f"pip-{self.arch}"
        pipcache.mkdir(exist_ok=True)
        self.mount("--bind", str(pipcache), target=r / "root" / ".cache" / "pip")
        return self

    def run(self, cmd: list[str], timeout: float = 1800, check: bool = True) -> subprocess.CompletedProcess:
        env = {"PATH": "/opt/venv/bin:/usr/local/bin:/usr/bin:/bin", "HOME": "/root", "LANG": "C.UTF-8",
               "QEMU_CPU": QEMU_CPU[self.arch], "EDGEQ_NO_PROGRESS": "1",
               **{k: v for k, v in os.environ.items() if k.startswith("PIP_") and k != "PIP_CONFIG_FILE"}}
        full = [shutil.which("chroot") or "/usr/sbin/chroot", str(self.dir), *cmd]
        if check:
            return sh(full, env=env, timeout=timeout)
        return subprocess.run(full, env=env, capture_output=True, text=True, timeout=timeout)

    def __exit__(self, *exc) -> None:
        for m in reversed(self.mounts):
            if subprocess.run(["umount", str(m)], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", str(m)], capture_output=True)
        if not any(os.path.ismount(m) for m in self.mounts):
            shutil.rmtree(self.dir, ignore_errors=True)


def deps_key() -> str:
    """What decides the venv's contents: edgeq's dependencies and its [pi] extra (pyproject.toml)."""
    import hashlib
    import tomllib

    proj = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    text = json.dumps([proj.get("dependencies", []), proj["optional-dependencies"]["pi"]])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def host_edgeq(*args: str) -> subprocess.CompletedProcess:
    return sh([sys.executable, "-m", "edgeq", *args], env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=900)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", action="append", choices=["arm64", "armhf"], help="default: arm64")
    ap.add_argument("--runs", type=int, default=20)
    a = ap.parse_args()
    arches = a.arch or ["arm64"]
    t_all = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="edgeq-pi-work-"))
    failures: list[str] = []

    def check(ok: bool, what: str) -> None:
        log(("ok   " if ok else "FAIL ") + what)
        if not ok:
            failures.append(what)

    try:
        # host side: the wheel, the known values, the firmware
        sh([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(work), str(REPO)],
           timeout=600)
        wheel = next(work.glob("edgeq-*.whl"))
        kws = SHARED / "kws_ref_model.tflite"
        import numpy as np

        # a random input whose scores are spread over several classes (a wrong kernel cannot hide in saturation)
        np.save(work / "kws_in.npy", np.random.default_rng(11).integers(-128, 128, (1, 49, 10, 1), dtype=np.int8))
        host_run = json.loads(host_edgeq("run", str(kws), "--input", str(work / "kws_in.npy"), "--json").stdout)
        assert sum(v > 0.01 for v in np.ravel(host_run["outputs"])) >= 2, host_run["outputs"]
        host_local = json.loads(host_edgeq("bench", "--local", str(kws), "--runs", "3", "--json").stdout)
        fw = work / "fw-kws"
        host_edgeq("export", str(kws), "--board", "qemu-m4", "--build", "-o", str(fw))
        sys.path.insert(0, str(REPO))
        sys.path.insert(0, str(REPO / "tests"))
        from edgeq.targets.emulators import start_emulator

        with start_emulator("qemu-m4", fw) as emu:
            host_dev = json.loads(host_edgeq("bench", "--port", emu.url, "--model", str(kws), "--runs",
                                             str(a.runs), "--reference", "portable", "--json").stdout)

        for arch in arches:
            t0 = time.monotonic()
            check_binfmt(arch)
            tar = root_tarball(arch)
            with Chroot(tar, arch) as root:
                log(f"{arch}: root ready in {time.monotonic() - t0:.0f} s")
                uname = root.run(["uname", "-m"]).stdout.strip()
                check(uname == MACHINE[arch], f"{arch}: uname -m in the root is {uname}")
                for f in (wheel, kws, work / "kws_in.npy", SHARED.parent / "tflite-micro" / "person_detect.tflite"):
                    if f.is_file():
                        shutil.copy(f, root.dir / "tmp" / f.name)
                t1 = time.monotonic()
                venv_tar = CACHE / f"{SUITE}-{arch}-venv-{deps_key()}.tar.zst"
                if venv_tar.is_file():  # the [pi] dependencies as installed last time: only edgeq itself anew
                    (root.dir / "opt" / "venv").mkdir(parents=True)
                    sh(["tar", "-I", "zstd", "-C", str(root.dir / "opt" / "venv"), "-xf", str(venv_tar)], timeout=600)
                    root.run(["/opt/venv/bin/pip", "install", "-q", "--no-deps", "--no-compile", "--force-reinstall",
                              f"/tmp/{wheel.name}"], timeout=1800)
                    root.run(["/opt/venv/bin/pip", "check"])  # every [pi] requirement is still met
                else:
                    root.run(["python3", "-m", "venv", *VENV_FLAGS.get(arch, []), "/opt/venv"])
                    root.run(["/opt/venv/bin/pip", "install", "-q", f"/tmp/{wheel.name}[pi]"], timeout=3600)
                    sh(["tar", "-I", "zstd -T0 -3", "-C", str(root.dir / "opt" / "venv"), "-cf", str(venv_tar) + ".part",
                        "."], timeout=600)
                    os.replace(str(venv_tar) + ".part", venv_tar)
                log(f"{arch}: pip install edgeq[pi] {time.monotonic() - t1:.0f} s; "
                    + root.run(["/opt/venv/bin/pip", "list", "--format=freeze"]).stdout.replace("\n", " ")[:300])

                pi_run = json.loads(root.run(["edgeq", "run", "/tmp/kws_ref_model.tflite", "--input", "/tmp/kws_in.npy",
                                              "--json"]).stdout)
                check(pi_run.get("raw") == host_run.get("raw") and pi_run.get("outputs") == host_run.get("outputs"),
                      f"{arch}: edgeq run KWS outputs equal the host's ({pi_run.get('runtime', {}).get('name')})")
                pi_local = json.loads(root.run(["edgeq", "bench", "--local", "/tmp/kws_ref_model.tflite", "--runs",
                                                "3", "--json"]).stdout)
                got, want = pi_local["models"][0]["outputs_sha256"], host_local["models"][0]["outputs_sha256"]
                check(got == want, f"{arch}: edgeq bench --local KWS outputs digest {got} == host {want}; "
                                   f"p50 {pi_local['models'][0]['latency']['p50']} us (emulated CPU)")
                pd = root.run(["edgeq", "run", "/tmp/person_detect.tflite", "--input", "/tmp/kws_in.npy"],
                              check=False)
                check(pd.returncode == 0 or (pd.returncode == 2 and "quantized_dimension" in pd.stderr
                                             and "Traceback" not in pd.stderr),
                      f"{arch}: person_detect: {pd.stderr.strip()[:160] or 'runs'}")

                from mlperf_runner_launcher import bridge

                with start_emulator("qemu-m4", fw) as emu:
                    pty = bridge(emu.url)
                    t2 = time.monotonic()
                    dev = json.loads(root.run(["edgeq", "bench", "--port", pty, "--model", "/tmp/kws_ref_model.tflite",
                                               "--runs", str(a.runs), "--reference", "portable", "--json"]).stdout)
                check(dev["verified"] == a.runs and dev["mismatches"] == 0 and dev["reference"] == "portable-host",
                      f"{arch}: edgeq bench --port {pty}: {dev['verified']}/{a.runs} outputs bit-exact against the "
                      f"portable C reference built in the root ({time.monotonic() - t2:.0f} s)")
                p50, hp50 = dev["latency"]["p50"], host_dev["latency"]["p50"]
                check(abs(p50 - hp50) <= 2 * 40, f"{arch}: device p50 {p50:,.0f} instructions, host's run "
                                                  f"{hp50:,.0f}")
            log(f"{arch}: done in {time.monotonic() - t0:.0f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log(f"total {time.monotonic() - t_all:.0f} s; {'all checks passed' if not failures else f'{len(failures)} FAILED'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
