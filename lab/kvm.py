"""Is KVM really usable?  Try it, in two steps, and remember the answer.

``/dev/kvm`` existing proves little: on nested set-ups it opens, creates VMs,
runs simple code, and then QEMU stops with "KVM internal error. Suberror: 1"
part-way into booting Linux.  So:

1. the cheap step does what QEMU would do at the smallest scale: one page of
   guest memory holding ``hlt``, one vCPU in real mode, one ``KVM_RUN``, and
   expects ``KVM_EXIT_HLT`` (in a child process, so a broken KVM cannot take
   the caller down);
2. the real step boots the guest kernel under QEMU with ``-accel kvm`` and
   waits for its first console line, or for QEMU's internal-error message.

The answer is cached per host boot (``/proc/sys/kernel/random/boot_id``) and QEMU.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import mmap
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# ioctl numbers from <linux/kvm.h> (type 0xAE).
KVM_GET_API_VERSION = 0xAE00
KVM_CREATE_VM = 0xAE01
KVM_GET_VCPU_MMAP_SIZE = 0xAE04
KVM_CREATE_VCPU = 0xAE41
KVM_SET_USER_MEMORY_REGION = 0x4020AE46
KVM_RUN = 0xAE80
KVM_GET_SREGS = 0x8138AE83
KVM_SET_SREGS = 0x4138AE84
KVM_SET_REGS = 0x4090AE82
KVM_EXIT_HLT = 5
GUEST_ADDR = 0x1000
HLT = b"\xf4"


def _run_hlt() -> str:
    """Return "ok" or why KVM is not usable (runs in the child process)."""
    kvm = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    if fcntl.ioctl(kvm, KVM_GET_API_VERSION) != 12:
        return "unexpected KVM API version"
    vm = fcntl.ioctl(kvm, KVM_CREATE_VM, 0)
    memory = mmap.mmap(-1, 0x1000)
    memory.write(HLT)
    address = ctypes.addressof(ctypes.c_char.from_buffer(memory))
    region = struct.pack("<IIQQQ", 0, 0, GUEST_ADDR, 0x1000, address)
    fcntl.ioctl(vm, KVM_SET_USER_MEMORY_REGION, region)
    vcpu = fcntl.ioctl(vm, KVM_CREATE_VCPU, 0)
    run_size = fcntl.ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE)
    run = mmap.mmap(vcpu, run_size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    sregs = bytearray(312)
    fcntl.ioctl(vcpu, KVM_GET_SREGS, sregs)
    struct.pack_into("<Q", sregs, 0, 0)  # cs.base = 0
    struct.pack_into("<H", sregs, 12, 0)  # cs.selector = 0
    fcntl.ioctl(vcpu, KVM_SET_SREGS, bytes(sregs))
    regs = bytearray(144)
    struct.pack_into("<QQ", regs, 128, GUEST_ADDR, 0x2)  # rip, rflags
    fcntl.ioctl(vcpu, KVM_SET_REGS, bytes(regs))
    fcntl.ioctl(vcpu, KVM_RUN, 0)
    (reason,) = struct.unpack_from("<I", run, 8)
    return "ok" if reason == KVM_EXIT_HLT else f"vCPU exited with reason {reason}, not HLT"


def probe_vcpu(timeout: float = 10.0) -> tuple[bool, str]:
    """Step 1: (usable, explanation)."""
    if not os.path.exists("/dev/kvm"):
        return False, "/dev/kvm does not exist"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False, "/dev/kvm is not accessible (add yourself to the kvm group)"
    try:
        child = subprocess.run(
            [sys.executable, "-m", "lab.kvm"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False, "a one-instruction KVM guest did not finish"
    lines = (child.stdout + child.stderr).strip().splitlines()
    answer = lines[-1] if lines else "no answer"
    if child.returncode == 0 and answer == "ok":
        return True, "a test vCPU ran and halted"
    return False, f"KVM fails to run a vCPU: {answer}"


def probe_boot(qemu_argv: list[str], kernel: Path, timeout: float = 20.0) -> tuple[bool, str]:
    """Step 2: boot ``kernel`` under KVM until it prints; (usable, explanation)."""
    with tempfile.TemporaryDirectory(prefix="ringlab-kvm-") as tmp:
        serial = Path(tmp) / "serial.log"
        cmd = [
            *qemu_argv, "-accel", "kvm", "-M", "pc", "-m", "256M", "-nodefaults",
            "-display", "none", "-no-reboot", "-serial", f"file:{serial}",
            "-kernel", str(kernel), "-append", "console=ttyS0 panic=-1",
        ]  # fmt: skip
        messages = Path(tmp) / "qemu.log"
        with (
            open(messages, "wb") as log,
            subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            ) as qemu,
        ):
            deadline = time.monotonic() + timeout
            verdict = (False, f"the kernel printed nothing under KVM within {timeout:g} s")
            while time.monotonic() < deadline and qemu.poll() is None:
                if b"KVM internal error" in messages.read_bytes():
                    verdict = (False, "QEMU stops with 'KVM internal error' (nested KVM?)")
                    break
                if serial.exists() and b"Linux version" in serial.read_bytes():
                    verdict = (True, "the guest kernel boots under KVM")
                    break
                time.sleep(0.1)
            qemu.kill()
        return verdict


def probe(qemu_argv: list[str], kernel: Path, cache: Path) -> tuple[bool, str]:
    """Both steps, remembered in ``cache`` for this host boot and this QEMU."""
    boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    key = f"{boot_id} {' '.join(qemu_argv)}"
    try:
        known = json.loads(cache.read_text())
        if known.get("key") == key:
            return bool(known["usable"]), str(known["reason"])
    except (OSError, ValueError, KeyError):
        pass
    usable, reason = probe_vcpu()
    if usable:
        usable, reason = probe_boot(qemu_argv, kernel)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"key": key, "usable": usable, "reason": reason}) + "\n")
    return usable, reason


if __name__ == "__main__":
    try:
        print(_run_hlt())
    except OSError as error:
        print(f"{error.strerror} in a KVM ioctl")
        sys.exit(1)
