"""The fabric's control socket: JSON lines over a unix stream socket at RUN_DIR/control.sock.

One request per line, one reply per line, in order. Every reply has "ok"; failures carry
"error" (a sentence a student can act on). Requests::

    {"cmd": "stats"}                                    -> {"ok": true, "stats": {...}}
    {"cmd": "link", "link": "ab", "up": false}          pull a cable ("link" may name a port)
    {"cmd": "reset", "port": "a"}                       reset a vNIC (as DEVICE_RESET would)
    {"cmd": "faults", "link": "ab", "drop": 0.1, "rate_mbps": 100, ...}
                                                        any `wire.LinkParams` key, also
                                                        "flow_control": true|false
    {"cmd": "pcap", "link": "ab", "action": "start", "path": "ab.pcap"}   (path: in RUN_DIR)
    {"cmd": "pcap", "link": "ab", "action": "stop"}     -> {"ok": true, "path": "..."}
    {"cmd": "describe"}                                 socket paths and QEMU arguments

It runs on the fabric's event loop like everything else, so a reply reflects a consistent
moment: no frame is half-counted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vnic.model.loop import EventLoop
from vnic.model.topology import Network
from vnic.model.wire import DevicePort

log = logging.getLogger(__name__)

MAX_LINE = 1 << 20


class ControlError(Exception):
    pass


class ControlServer:
    def __init__(self, path: str, network: Network, loop: EventLoop) -> None:
        self.path = path
        self.network = network
        self.loop = loop
        self.clients: dict[socket.socket, bytearray] = {}
        self.commands: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "stats": lambda req: {"stats": network.stats()},
            "describe": lambda req: {"fabric": network.describe()},
            "link": self._link,
            "reset": self._reset,
            "faults": self._faults,
            "pcap": self._pcap,
        }
        self.listener = loop.listen(path, self._accept)

    def _accept(self, sock: socket.socket) -> None:
        # Replies are small and clients read them at once; a blocking send with a timeout
        # keeps this simple without letting a stuck client hold the loop for long.
        sock.settimeout(1.0)
        self.clients[sock] = bytearray()
        self.loop.add_reader(sock, lambda: self._readable(sock))

    def _drop(self, sock: socket.socket) -> None:
        self.clients.pop(sock, None)
        self.loop.remove_reader(sock)
        sock.close()

    def _readable(self, sock: socket.socket) -> None:
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError, TimeoutError):
            return
        except OSError:
            self._drop(sock)
            return
        if not data:
            self._drop(sock)
            return
        buf = self.clients[sock]
        buf += data
        while b"\n" in buf:
            line, _, rest = bytes(buf).partition(b"\n")
            buf[:] = rest
            reply = self.execute(line)
            try:
                sock.sendall(json.dumps(reply).encode() + b"\n")
            except OSError:
                self._drop(sock)
                return
        if len(buf) > MAX_LINE:
            self._drop(sock)

    def execute(self, line: bytes) -> dict[str, Any]:
        try:
            req = json.loads(line)
            if not isinstance(req, dict):
                raise ControlError("a request is a JSON object")
            handler = self.commands.get(req.get("cmd", ""))
            if handler is None:
                raise ControlError(f"unknown cmd; try one of {sorted(self.commands)}")
            return {"ok": True, **handler(req)}
        except (ControlError, ValueError, KeyError, TypeError) as exc:
            # str(KeyError) quotes its message; the message itself is what a user needs.
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            return {"ok": False, "error": str(message)}
        except Exception as exc:
            log.exception("control request failed")
            return {"ok": False, "error": f"internal error: {exc!r}"}

    def _link(self, req: dict[str, Any]) -> dict[str, Any]:
        link = self.network.link_of(str(req["link"]))
        up = req.get("up")
        if not isinstance(up, bool):
            raise ControlError("'up' must be true or false")
        link.set_up(up)
        return {"link": link.name, "up": link.up}

    def _reset(self, req: dict[str, Any]) -> dict[str, Any]:
        port = self.network.ports.get(str(req.get("port")))
        if not isinstance(port, DevicePort):
            raise ControlError("'port' must name a vNIC port")
        port.device.reset()
        return {"port": port.name}

    def _faults(self, req: dict[str, Any]) -> dict[str, Any]:
        link = self.network.link_of(str(req["link"]))
        link.configure({k: v for k, v in req.items() if k not in ("cmd", "link")})
        return {"link": link.name, "params": link.stats()["params"]}

    def _pcap(self, req: dict[str, Any]) -> dict[str, Any]:
        link = self.network.link_of(str(req["link"]))
        action = req.get("action")
        if action == "start":
            path = Path(str(req.get("path", f"{link.name}.pcap")))
            if not path.is_absolute():
                path = self.network.run_dir / path
            link.start_pcap(str(path))
            return {"link": link.name, "path": str(path)}
        if action == "stop":
            return {"link": link.name, "path": link.stop_pcap()}
        raise ControlError("'action' must be start or stop")

    def close(self) -> None:
        for sock in list(self.clients):
            self._drop(sock)
        self.loop.remove_reader(self.listener)
        self.listener.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def control_request(path: str, request: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    """Send one request to a running fabric's control socket; return its reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(json.dumps(request).encode() + b"\n")
        buf = bytearray()
        while not buf.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("the fabric closed the control socket")
            buf += chunk
    reply: dict[str, Any] = json.loads(buf)
    return reply
