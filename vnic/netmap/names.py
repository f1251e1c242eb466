"""Port names: ``netmap:eth0-1/T`` -> what REGISTER needs (spec §7).

The grammar, a subset of libnetmap's ``subsystem:port[mode][/flags][@memid]``::

    netmap:eth0       all hardware rings          NR_REG_ALL_NIC
    netmap:eth0-1     hardware ring pair 1        NR_REG_ONE_NIC, nr_ringid 1
    netmap:eth0^      all host rings              NR_REG_SW
    netmap:eth0^1     host ring pair 1            NR_REG_ONE_SW, nr_ringid 1
    netmap:eth0*      hardware and host rings     NR_REG_NIC_SW
    netmap:eth0{1     pipe 1 of eth0, master end  (kept in the name, as libnetmap does)
    netmap:eth0}1     pipe 1 of eth0, slave end
    vale0:p1          port p1 of VALE switch vale0 (the kernel sees "vale0:p1")
    stack:eth0        the StackMap port of eth0: one TX and one RX ring carrying TCP data
                      of attached sockets (the kernel sees "stack:eth0"; nothing may follow)
    .../R  .../T      bind only the RX / only the TX rings
    .../x             exclusive: nobody else may bind these rings
    .../t  .../r  .../z   monitor TX / monitor RX / zero-copy monitor
    ...@2             use memory region (allocator) 2

The kernel never sees the ``netmap:`` prefix: it gets the interface name plus, for pipes,
the ``{N``/``}N`` suffix. An interface name is letters, digits, ``_`` and ``.``, so an
interface whose name contains ``-`` cannot be named (``-`` starts a ring number).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vnic.netmap import abi

NETMAP_PREFIX = "netmap:"
MAX_RING = 4094  # a ring number fits the legacy 12-bit NETMAP_RING_MASK, below 0xfff

_FLAG_CHARS = {
    "x": abi.NR_EXCLUSIVE,
    "z": abi.NR_ZCOPY_MON,
    "t": abi.NR_MONITOR_TX,
    "r": abi.NR_MONITOR_RX,
    "R": abi.NR_RX_RINGS_ONLY,
    "T": abi.NR_TX_RINGS_ONLY,
}

_IFNAME = r"[A-Za-z0-9_.]+"
_VALE = re.compile(r"(vale[A-Za-z0-9_]*):([A-Za-z0-9_]+)")
_NETMAP = re.compile(rf"({_IFNAME})")
_SUFFIX = re.compile(
    r"(?P<mode>-(?P<ring>\d+)|\^(?P<host>\d+)?|\*|(?P<pipe>[{}])(?P<pipe_id>[A-Za-z0-9_]+))?"
    r"(?:/(?P<flags>[^@]*))?"
    r"(?:@(?P<mem>.*))?\Z"
)


@dataclass(frozen=True)
class PortName:
    """A parsed port name: the fields of REGISTER it decides."""

    text: str  # the name as given, e.g. "netmap:eth0-1/T"
    kernel_name: str  # nr_name: "eth0", "eth0{1", "vale0:p1"
    interface: str | None  # the OS interface ("eth0"); None for a VALE port
    mode: int  # NR_REG_*
    ring_id: int  # nr_ringid (ONE_NIC / ONE_SW), else 0
    flags: int  # NR_* flag bits
    mem_id: int  # nr_mem_id: 0 lets the kernel choose

    @property
    def mode_name(self) -> str:
        return abi.MODE_NAMES.get(self.mode, str(self.mode))


def parse_port_name(text: str) -> PortName:
    """Parse ``text``; a name that does not follow the grammar raises ValueError saying why."""
    if text.startswith(abi.NM_STACK_PREFIX):
        return _parse_stack_name(text)
    if text.startswith(NETMAP_PREFIX):
        rest = text[len(NETMAP_PREFIX) :]
        m = _NETMAP.match(rest)
        if m is None:
            raise ValueError(
                f"port name {text!r}: expected an interface name after 'netmap:' "
                "(letters, digits, '_' or '.'), e.g. 'netmap:eth0'"
            )
        kernel_name = interface = m.group(1)
        vale = False
    elif text.startswith("vale"):
        m = _VALE.match(text)
        if m is None:
            raise ValueError(
                f"port name {text!r}: a VALE port is 'valeSWITCH:PORT', e.g. 'vale0:p1'"
            )
        kernel_name, interface, vale = m.group(0), None, True
    else:
        raise ValueError(
            f"port name {text!r}: must start with 'netmap:' (e.g. 'netmap:eth0'), 'vale' "
            "or 'stack:' (e.g. 'stack:eth0')"
        )
    suffix = text[len(NETMAP_PREFIX) + m.end() :] if not vale else text[m.end() :]
    s = _SUFFIX.match(suffix)
    if s is None:
        raise ValueError(
            f"port name {text!r}: cannot parse {suffix!r} after {kernel_name!r}; expected "
            "-N (ring N), ^ (host rings), ^N, * (NIC and host rings), {N or }N (pipe), "
            "then /flags and @memid"
        )
    mode, ring_id = abi.NR_REG_ALL_NIC, 0
    if s.group("ring") is not None:
        mode, ring_id = abi.NR_REG_ONE_NIC, int(s.group("ring"))
    elif s.group("mode") == "*":
        mode = abi.NR_REG_NIC_SW
    elif s.group("mode") is not None and s.group("mode").startswith("^"):
        host = s.group("host")
        mode, ring_id = (abi.NR_REG_SW, 0) if host is None else (abi.NR_REG_ONE_SW, int(host))
    elif s.group("pipe") is not None:
        # NIOCCTRL rejects the PIPE_* modes: a pipe is named, and bound as ALL_NIC (spec §3.4)
        kernel_name += s.group("pipe") + s.group("pipe_id")
    if ring_id > MAX_RING:
        raise ValueError(f"port name {text!r}: ring {ring_id} is out of range 0..{MAX_RING}")
    flags = _parse_flags(text, s.group("flags"))
    mem_id = _parse_mem_id(text, s.group("mem"))
    if len(kernel_name.encode()) >= abi.NETMAP_REQ_IFNAMSIZ:
        raise ValueError(
            f"port name {text!r}: {kernel_name!r} is longer than "
            f"{abi.NETMAP_REQ_IFNAMSIZ - 1} bytes"
        )
    return PortName(text, kernel_name, interface, mode, ring_id, flags, mem_id)


def _parse_stack_name(text: str) -> PortName:
    """``stack:IFNAME``: the kernel binds the port's only ring pair (as ALL_NIC)."""
    interface = text[len(abi.NM_STACK_PREFIX) :]
    if re.fullmatch(_IFNAME, interface) is None:
        raise ValueError(
            f"port name {text!r}: a stack port is 'stack:IFNAME', e.g. 'stack:eth0' (it has "
            "one TX and one RX ring: no ring number, flags or @memid)"
        )
    if len(text.encode()) >= abi.NETMAP_REQ_IFNAMSIZ:
        raise ValueError(f"port name {text!r} is longer than {abi.NETMAP_REQ_IFNAMSIZ - 1} bytes")
    return PortName(text, text, interface, abi.NR_REG_ALL_NIC, 0, 0, 0)


def _parse_flags(text: str, chars: str | None) -> int:
    if chars is None:
        return 0
    if chars == "":
        raise ValueError(f"port name {text!r}: '/' must be followed by flags (x z t r R T)")
    flags = 0
    for c in chars:
        if c not in _FLAG_CHARS:
            raise ValueError(
                f"port name {text!r}: unknown flag {c!r} after '/'; known: "
                "x (exclusive), z (zero-copy monitor), t (monitor TX), r (monitor RX), "
                "R (RX rings only), T (TX rings only)"
            )
        flags |= _FLAG_CHARS[c]
    both = abi.NR_RX_RINGS_ONLY | abi.NR_TX_RINGS_ONLY
    if flags & both == both:
        raise ValueError(f"port name {text!r}: /R and /T together would bind no ring at all")
    return flags


def _parse_mem_id(text: str, mem: str | None) -> int:
    if mem is None:
        return 0
    if not mem.isdigit() or int(mem) == 0 or int(mem) > 0xFFFF:
        raise ValueError(
            f"port name {text!r}: '@' must be followed by a memory region id 1..65535 "
            "(libnetmap's @options are not supported)"
        )
    return int(mem)
