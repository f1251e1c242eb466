"""The command channel: a shell on the guest's virtio console (hvc0), driven by pexpect.

Why hvc0 and not the serial port: kernel messages share the UART with whatever
is typed, and under a printk flood typed characters get lost.  The virtio
console carries only our commands, so it stays reliable while ttyS0 carries
the kernel log (into a file) and a human's shell.

How a command is run, reliably, whatever it prints or contains:

* the command travels base64-encoded inside one short line, so quotes,
  newlines and shell metacharacters in it need no escaping;
* it runs in a subshell with stdin from /dev/null (it cannot eat the next
  command) and stderr merged into stdout;
* after it, the shell prints ``@@RL <token> <status>@@`` with a fresh random
  token: the output is everything before the marker, the status is ``$?``;
* on timeout a ^C interrupts the foreground job (the shell has job control on
  its own terminal), and the channel resynchronises on a new marker.

The guest's init turns echo and CR/LF translation off and sets an empty prompt,
so the stream carries exactly what commands print.
"""

from __future__ import annotations

import base64
import contextlib
import re
import secrets
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import pexpect
import pexpect.fdpexpect

READY = re.compile(rb"RINGLAB-READY ([0-9.]+)\n")
#: The tty line discipline takes at most 4095 characters per line.
MAX_LINE = 4000
ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


class ConsoleError(RuntimeError):
    """The command channel is unusable (guest gone, kernel crashed, channel wedged)."""


class CommandTimeout(ConsoleError):
    """A command did not finish in time; it was interrupted with ^C."""

    def __init__(self, command: str, timeout: float, output: str) -> None:
        super().__init__(f"command timed out after {timeout:g} s: {command[:200]}")
        self.command = command
        self.timeout = timeout
        self.output = output


@dataclass(frozen=True)
class CommandResult:
    command: str
    status: int
    output: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.status == 0


class Console:
    """One guest's command shell over a connected stream socket."""

    def __init__(self, sock: socket.socket, transcript: Path) -> None:
        self._sock = sock
        self._log = open(transcript, "ab")  # noqa: SIM115 - closed in close()
        self._child = pexpect.fdpexpect.fdspawn(sock.fileno(), timeout=30, logfile=self._log)
        # pexpect sleeps 50 ms before each send by default; a command round trip
        # is ~45 ms here, so that default would double every command's latency.
        self._child.delaybeforesend = None
        self.broken = False

    def wait_ready(self, timeout: float) -> float:
        """Wait for the guest init's READY line; return the guest's uptime then."""
        try:
            self._child.expect(READY, timeout=timeout)
        except pexpect.TIMEOUT as error:
            raise ConsoleError(f"guest not ready after {timeout:g} s") from error
        except pexpect.EOF as error:
            raise ConsoleError("guest console closed before READY (QEMU exited?)") from error
        match = self._child.match
        assert match is not None
        return float(match.group(1))

    def run(self, command: str, timeout: float = 60.0) -> CommandResult:
        """Run ``command`` in the guest's shell; return status and output."""
        if self.broken:
            raise ConsoleError("the command channel is broken (an earlier command wedged it)")
        encoded = base64.b64encode(command.encode()).decode()
        token = secrets.token_hex(6)
        line = f'( eval "$(echo {encoded} | base64 -d)" ) </dev/null 2>&1; echo "@@RL {token} $?@@"'
        if len(line) > MAX_LINE:
            raise ValueError(
                f"command too long for the console ({len(command)} bytes): "
                "put a script in a shared directory and run that instead"
            )
        marker = re.compile(rb"@@RL " + token.encode() + rb" (\d+)@@\n")
        started = time.monotonic()
        self._child.sendline(line)
        try:
            self._child.expect(marker, timeout=timeout)
        except pexpect.TIMEOUT as error:
            partial = self._clean(self._child.before)
            self._interrupt(token, marker)
            raise CommandTimeout(command, timeout, partial) from error
        except pexpect.EOF as error:
            self.broken = True
            raise ConsoleError("guest console closed (QEMU exited or the guest crashed)") from error
        seconds = time.monotonic() - started
        match = self._child.match
        assert match is not None
        return CommandResult(command, int(match.group(1)), self._clean(self._child.before), seconds)

    def _interrupt(self, token: str, marker: re.Pattern[bytes]) -> None:
        """^C the foreground job, then resynchronise; else declare the channel broken.

        An interactive shell drops the rest of an interrupted command line, our
        marker included, so the marker is sent again on a line of its own
        (status 130, as a shell reports a job killed by SIGINT).
        """
        for _ in range(3):
            self._child.send("\x03")
            self._child.sendline(f'echo "@@RL {token} 130@@"')
            try:
                self._child.expect(marker, timeout=5)
                return
            except pexpect.TIMEOUT:
                continue
            except pexpect.EOF:
                break
        self.broken = True

    @staticmethod
    def _clean(data: object) -> str:
        raw = data if isinstance(data, bytes) else b""
        return ANSI.sub(b"", raw).replace(b"\r", b"").decode(errors="replace")

    def abort(self) -> None:
        """Make a command running in another thread fail at once (EOF), and every later one.

        ``shutdown`` wakes a thread waiting on the socket, which ``close`` would not.
        """
        self.broken = True
        with contextlib.suppress(OSError):  # already closed
            self._sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        try:
            self._sock.close()
        finally:
            self._log.close()
