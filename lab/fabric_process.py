"""The vNIC fabric as a child process of the lab: ``python -m vnic serve``.

One process hosts every vNIC port and wire of a lab: it builds the
:class:`vnic.model.topology.Network` of the lab's wire and serves it.
The lab writes the wire part of its topology to JSON, starts the fabric, waits
for its ``ready`` file, and then gives each QEMU the ``-device`` argument of its
port.  The fabric is stopped after the QEMUs (a vanishing device upsets a
running guest), with SIGTERM, and removes its own sockets.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lab.children import die_with_parent
from vnic.model.control import control_request


class FabricError(RuntimeError):
    """The fabric did not start; the message carries its log."""


class FabricProcess:
    def __init__(self, network: dict[str, Any], sockets: Path, logs: Path) -> None:
        self.network = network
        self.dir = sockets
        self.logs = logs
        self.process: subprocess.Popen[bytes] | None = None
        self.ready: dict[str, Any] = {}

    def start(self, timeout: float = 30.0) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        topology = self.logs / "topology.json"
        topology.write_text(json.dumps(self.network, indent=2) + "\n")
        with open(self.logs / "fabric.log", "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "vnic", "serve", str(topology), "--run-dir", str(self.dir)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                # SIGTERM, not SIGKILL: the fabric then removes its sockets itself.
                preexec_fn=die_with_parent(signal.SIGTERM),
            )
        ready = self.dir / "ready"
        deadline = time.monotonic() + timeout
        while not ready.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                log_tail = (self.logs / "fabric.log").read_text(errors="replace")[-3000:]
                raise FabricError(f"the vNIC fabric did not start:\n{log_tail}")
            time.sleep(0.05)
        self.ready = json.loads(ready.read_text())

    def qemu_device(self, port: str) -> dict[str, Any]:
        """The ``-device`` object that plugs a QEMU into ``port``."""
        return dict(json.loads(self.ready["ports"][port]["qemu_device"]))

    def host_socket(self, host: str) -> Path:
        return Path(self.ready["hosts"][host]["socket"])

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        return dict(control_request(str(self.dir / "control.sock"), message))

    def stats(self) -> dict[str, Any]:
        return self.request({"cmd": "stats"})

    def stop(self, grace: float = 5.0) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
