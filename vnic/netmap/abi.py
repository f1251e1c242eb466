"""The netmap ABI in ctypes: structures, constants and ioctl numbers (API 14, Linux x86_64).

This file mirrors ``vnic/linux/netmap/uapi/net/netmap.h`` field for field, in the same order
and with the same names, so a student can read the two side by side. The offsets and sizes
are those of ``specs/netmap-abi.md`` (§3, §4, §8); ``tests/unit/test_netmap_bindings.py``
checks every one of them, so a wrong field here fails a test instead of corrupting a ring.

The rest of the package takes its offsets from these classes (``NetmapRing.head.offset``)
rather than from numbers of its own: the layout is written down once.
"""

from __future__ import annotations

import ctypes
from typing import Any

# --- versions and the device (spec §1, §2) ---------------------------------------------

NETMAP_API = 14  # the version we speak; the kernel accepts 14..15
NETMAP_MIN_API = 14
NETMAP_MAX_API = 15
NETMAP_DEVICE = "/dev/netmap"

NETMAP_REQ_IFNAMSIZ = 64  # nr_name in nmreq_header; the kernel forces byte 63 to NUL
NETMAP_REQ_MAXSIZE = 4096
IFNAMSIZ = 16


class AbiStruct(ctypes.Structure):
    """A ctypes structure that prints its fields by name (padding fields start with ``_``)."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, *_ in self._fields_:
            if name.startswith("_") or name in ("pad", "pad1", "sem", "ni_spare1", "spare2"):
                continue
            value = getattr(self, name)
            out[name] = value.decode(errors="replace") if isinstance(value, bytes) else value
        return out

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items())
        return f"{type(self).__name__}({fields})"


# --- shared memory: slot, ring, interface (spec §4) ------------------------------------


class NetmapSlot(AbiStruct):
    """One slot of a ring, 16 bytes: which buffer, how many bytes in it, flags."""

    _fields_ = (
        ("buf_idx", ctypes.c_uint32),  # buffer index in the buffer pool
        ("len", ctypes.c_uint16),  # bytes in the buffer
        ("flags", ctypes.c_uint16),  # NS_*
        ("ptr", ctypes.c_uint64),  # NS_INDIRECT address, or per-slot offsets
    )


NS_BUF_CHANGED = 0x0001  # buf_idx changed: the NIC must re-point its descriptor
NS_REPORT = 0x0002  # ask for a completion report of this TX slot
NS_FORWARD = 0x0004  # with NR_FORWARD: pass the slot to the other side (host <-> NIC)
NS_NO_LEARN = 0x0008
NS_INDIRECT = 0x0010
NS_MOREFRAG = 0x0020  # more fragments of this frame follow in the next slot
NS_TXMON = 0x0040
NS_PORT_SHIFT = 8
NS_PORT_MASK = 0xFF << NS_PORT_SHIFT

NETMAP_MAX_FRAGS = 64
NM_CACHE_ALIGN = 128


class NetmapTimeval(AbiStruct):
    """``struct timeval`` on LP64: 16 bytes."""

    _fields_ = (("tv_sec", ctypes.c_int64), ("tv_usec", ctypes.c_int64))


class NetmapRing(AbiStruct):
    """The 256-byte header of a ring; the slot array follows it (``RING_SLOTS_OFFSET``).

    In C the structure is 128-byte aligned; ctypes cannot say so, but the explicit padding
    gives the same offsets and size, and rings are placed by the kernel anyway.
    """

    _fields_ = (
        ("buf_ofs", ctypes.c_int64),  # kernel, const: from this ring to buffer 0
        ("num_slots", ctypes.c_uint32),  # kernel, const: n (not always a power of two)
        ("nr_buf_size", ctypes.c_uint32),  # kernel, const: bytes per buffer
        ("ringid", ctypes.c_uint16),  # kernel, const: ring index within its direction
        ("dir", ctypes.c_uint16),  # kernel, const: NR_TX or NR_RX
        ("head", ctypes.c_uint32),  # program: first slot it owns
        ("cur", ctypes.c_uint32),  # program: wake-up point
        ("tail", ctypes.c_uint32),  # kernel: first slot the kernel owns
        ("flags", ctypes.c_uint32),  # NR_TIMESTAMP, NR_FORWARD
        ("_pad0", ctypes.c_uint32),
        ("ts", NetmapTimeval),  # kernel: time of the last sync (with NR_TIMESTAMP)
        ("offset_mask", ctypes.c_uint64),  # kernel, const: ptr bits used as buffer offset
        ("buf_align", ctypes.c_uint64),  # kernel, const
        ("_pad1", ctypes.c_uint8 * 56),
        ("sem", ctypes.c_uint8 * 128),  # opaque, cache-aligned
    )


RING_SLOTS_OFFSET = ctypes.sizeof(NetmapRing)  # 256: slot[0] starts here

NR_TIMESTAMP = 0x0002
NR_FORWARD = 0x0004

NR_TX = 0
NR_RX = 1


class NetmapIf(AbiStruct):
    """The fixed 56-byte part of ``struct netmap_if``; ``ring_ofs[]`` (signed 64-bit) follows.

    ``ring_ofs`` has (T + max(1, HT)) TX entries then (R + max(1, HR)) RX entries, each the
    byte offset of a ring from this structure, 0 for a ring not bound to this fd.
    """

    _fields_ = (
        ("ni_name", ctypes.c_char * IFNAMSIZ),
        ("ni_version", ctypes.c_uint32),
        ("ni_flags", ctypes.c_uint32),  # NI_PRIV_MEM
        ("ni_tx_rings", ctypes.c_uint32),  # T: hardware TX rings
        ("ni_rx_rings", ctypes.c_uint32),  # R: hardware RX rings
        ("ni_bufs_head", ctypes.c_uint32),  # extra buffers: a list through word 0 of each
        ("ni_host_tx_rings", ctypes.c_uint32),  # HT (the kernel writes max(1, configured))
        ("ni_host_rx_rings", ctypes.c_uint32),  # HR
        ("ni_spare1", ctypes.c_uint32 * 3),
    )


RING_OFS_OFFSET = ctypes.sizeof(NetmapIf)  # 56: ring_ofs[0] starts here
NI_PRIV_MEM = 0x1

# --- control: NIOCCTRL (spec §3) --------------------------------------------------------


class NmreqHeader(AbiStruct):
    """The 88-byte argument of NIOCCTRL; the request body is reached through ``nr_body``."""

    _fields_ = (
        ("nr_version", ctypes.c_uint16),
        ("nr_reqtype", ctypes.c_uint16),  # NETMAP_REQ_*
        ("nr_reserved", ctypes.c_uint32),  # must be 0
        ("nr_name", ctypes.c_char * NETMAP_REQ_IFNAMSIZ),
        ("nr_options", ctypes.c_uint64),  # user pointer to a struct nmreq_option, or 0
        ("nr_body", ctypes.c_uint64),  # user pointer to the request body
    )


NETMAP_REQ_REGISTER = 1
NETMAP_REQ_PORT_INFO_GET = 2
NETMAP_REQ_VALE_ATTACH = 3
NETMAP_REQ_VALE_DETACH = 4
NETMAP_REQ_VALE_LIST = 5
NETMAP_REQ_PORT_HDR_SET = 6
NETMAP_REQ_PORT_HDR_GET = 7
NETMAP_REQ_VALE_NEWIF = 8
NETMAP_REQ_VALE_DELIF = 9
NETMAP_REQ_VALE_POLLING_ENABLE = 10
NETMAP_REQ_VALE_POLLING_DISABLE = 11
NETMAP_REQ_POOLS_INFO_GET = 12
NETMAP_REQ_SYNC_KLOOP_START = 13
NETMAP_REQ_SYNC_KLOOP_STOP = 14
NETMAP_REQ_CSB_ENABLE = 15
# PASTE's StackMap requests (stackmap-api §3, §4); ringlab's netmap.ko knows only FD_REG
NETMAP_REQ_PST_ATTACH = 16
NETMAP_REQ_PST_DETACH = 17
NETMAP_REQ_PST_FD_REG = 18  # attach a connected TCP socket to a stack port

REQUEST_NAMES = {
    NETMAP_REQ_REGISTER: "REGISTER",
    NETMAP_REQ_PORT_INFO_GET: "PORT_INFO_GET",
    NETMAP_REQ_PORT_HDR_GET: "PORT_HDR_GET",
    NETMAP_REQ_POOLS_INFO_GET: "POOLS_INFO_GET",
    NETMAP_REQ_PST_FD_REG: "PST_FD_REG",
}


class NmreqOption(AbiStruct):
    """Header of an option in the list at ``nr_options`` (24 bytes): every option structure
    starts with one. ``nro_next`` points at the next option (0 ends the list); the kernel
    writes ``nro_status`` (0: accepted, else the errno it refused the option with)."""

    _fields_ = (
        ("nro_next", ctypes.c_uint64),
        ("nro_reqtype", ctypes.c_uint32),
        ("nro_status", ctypes.c_uint32),  # out: 0 or an errno
        ("nro_size", ctypes.c_uint64),
    )


NETMAP_REQ_OPT_EXTMEM = 1
NETMAP_REQ_OPT_SYNC_KLOOP_EVENTFDS = 2
NETMAP_REQ_OPT_CSB = 3
NETMAP_REQ_OPT_SYNC_KLOOP_MODE = 4
NETMAP_REQ_OPT_OFFSETS = 5  # the only option ringlab accepts, and only on a stack port
NETMAP_REQ_OPT_MAX = 6

OPTION_NAMES = {
    NETMAP_REQ_OPT_EXTMEM: "EXTMEM",
    NETMAP_REQ_OPT_SYNC_KLOOP_EVENTFDS: "SYNC_KLOOP_EVENTFDS",
    NETMAP_REQ_OPT_CSB: "CSB",
    NETMAP_REQ_OPT_SYNC_KLOOP_MODE: "SYNC_KLOOP_MODE",
    NETMAP_REQ_OPT_OFFSETS: "OFFSETS",
}


class NmreqOptOffsets(AbiStruct):
    """Option OFFSETS (56 bytes): give every slot a per-slot offset, kept in the low
    ``nro_offset_bits`` bits of ``slot.ptr``; a slot's data then starts ``offset`` bytes
    into its buffer. REGISTER sets every slot's offset to ``nro_initial_offset``; a program
    may use offsets up to ``nro_max_offset``. Stack ports: bits <= 8, initial <= max <= 255."""

    _fields_ = (
        ("nro_opt", NmreqOption),  # nro_reqtype = NETMAP_REQ_OPT_OFFSETS
        ("nro_max_offset", ctypes.c_uint64),
        ("nro_initial_offset", ctypes.c_uint64),
        ("nro_offset_bits", ctypes.c_uint32),
        ("nro_tx_align", ctypes.c_uint32),  # upstream netmap's; a stack port wants 0
        ("nro_min_gap", ctypes.c_uint64),  # upstream netmap's; a stack port wants 0
    )


class NmreqRegister(AbiStruct):
    """Body of REGISTER (56 bytes): what to bind in, the port's geometry out."""

    _fields_ = (
        ("nr_offset", ctypes.c_uint64),  # out: where this fd's netmap_if is in the region
        ("nr_memsize", ctypes.c_uint64),  # out: bytes to mmap
        ("nr_tx_slots", ctypes.c_uint32),  # in: request (0 = keep), out: actual
        ("nr_rx_slots", ctypes.c_uint32),
        ("nr_tx_rings", ctypes.c_uint16),  # out: the port's T (not the number bound)
        ("nr_rx_rings", ctypes.c_uint16),
        ("nr_host_tx_rings", ctypes.c_uint16),
        ("nr_host_rx_rings", ctypes.c_uint16),
        ("nr_mem_id", ctypes.c_uint16),  # in: 0 = kernel chooses; out: the allocator
        ("nr_ringid", ctypes.c_uint16),  # in: ring for NR_REG_ONE_NIC / NR_REG_ONE_SW
        ("nr_mode", ctypes.c_uint32),  # in: NR_REG_*
        ("nr_extra_bufs", ctypes.c_uint32),  # in: wanted, out: granted
        ("_pad", ctypes.c_uint32),
        ("nr_flags", ctypes.c_uint64),  # in: NR_EXCLUSIVE, NR_RX_RINGS_ONLY, ...
    )


NR_REG_DEFAULT = 0
NR_REG_ALL_NIC = 1
NR_REG_SW = 2
NR_REG_NIC_SW = 3
NR_REG_ONE_NIC = 4
NR_REG_PIPE_MASTER = 5
NR_REG_PIPE_SLAVE = 6
NR_REG_NULL = 7
NR_REG_ONE_SW = 8

MODE_NAMES = {
    NR_REG_DEFAULT: "DEFAULT",
    NR_REG_ALL_NIC: "ALL_NIC",
    NR_REG_SW: "SW",
    NR_REG_NIC_SW: "NIC_SW",
    NR_REG_ONE_NIC: "ONE_NIC",
    NR_REG_PIPE_MASTER: "PIPE_MASTER",
    NR_REG_PIPE_SLAVE: "PIPE_SLAVE",
    NR_REG_NULL: "NULL",
    NR_REG_ONE_SW: "ONE_SW",
}

NR_MONITOR_TX = 0x100
NR_MONITOR_RX = 0x200
NR_ZCOPY_MON = 0x400
NR_EXCLUSIVE = 0x800
NR_RX_RINGS_ONLY = 0x2000
NR_TX_RINGS_ONLY = 0x4000
NR_ACCEPT_VNET_HDR = 0x8000
NR_DO_RX_POLL = 0x10000
NR_NO_TX_POLL = 0x20000


class NmreqPortInfoGet(AbiStruct):
    """Body of PORT_INFO_GET (32 bytes): a port's geometry without binding it."""

    _fields_ = (
        ("nr_memsize", ctypes.c_uint64),
        ("nr_tx_slots", ctypes.c_uint32),
        ("nr_rx_slots", ctypes.c_uint32),
        ("nr_tx_rings", ctypes.c_uint16),
        ("nr_rx_rings", ctypes.c_uint16),
        ("nr_host_tx_rings", ctypes.c_uint16),
        ("nr_host_rx_rings", ctypes.c_uint16),
        ("nr_mem_id", ctypes.c_uint16),
        ("pad", ctypes.c_uint16 * 3),
    )


class NmreqPortHdr(AbiStruct):
    """Body of PORT_HDR_SET / PORT_HDR_GET (8 bytes): the virtio-net header length."""

    _fields_ = (("nr_hdr_len", ctypes.c_uint32), ("pad", ctypes.c_uint32))


class NmreqPoolsInfo(AbiStruct):
    """Body of POOLS_INFO_GET (64 bytes): where the three pools are and how big."""

    _fields_ = (
        ("nr_memsize", ctypes.c_uint64),
        ("nr_mem_id", ctypes.c_uint16),
        ("pad1", ctypes.c_uint16 * 3),
        ("nr_if_pool_offset", ctypes.c_uint64),
        ("nr_if_pool_objtotal", ctypes.c_uint32),
        ("nr_if_pool_objsize", ctypes.c_uint32),
        ("nr_ring_pool_offset", ctypes.c_uint64),
        ("nr_ring_pool_objtotal", ctypes.c_uint32),
        ("nr_ring_pool_objsize", ctypes.c_uint32),
        ("nr_buf_pool_offset", ctypes.c_uint64),
        ("nr_buf_pool_objtotal", ctypes.c_uint32),
        ("nr_buf_pool_objsize", ctypes.c_uint32),
    )


# --- StackMap: stack ports (stackmap-api §3-§5, §12) -----------------------------------

NM_STACK_PREFIX = "stack:"  # "stack:eth0": the stack port of eth0


class NmreqPstFdReg(AbiStruct):
    """Body of PST_FD_REG (8 bytes): attach the connected TCP socket ``fd`` (a descriptor of
    the calling process) to the port named in the header."""

    _fields_ = (("fd", ctypes.c_int32), ("pad1", ctypes.c_uint32))


# A stack port's slot.ptr, PASTE's layout: three fields side by side in one u64.
#   bits  0-7   the generic offset: where the slot's area starts in its buffer
#   bits  8-39  fd: the socket whose data the slot carries
#   bits 40-49  doff: where the data starts in that area (RX: 0; TX: the program's choice)
# The data is len - doff bytes at buffer + offset + doff (len counts from the offset).
NM_PST_OFFSET_MASK = 0x00000000000000FF
NM_PST_FD_MASK = 0x000000FFFFFFFF00
NM_PST_FD_SHIFT = 8
NM_PST_DOFF_MASK = 0x0003FF0000000000
NM_PST_DOFF_SHIFT = 40
NM_PST_DOFF_MAX = 1023


# --- legacy control (spec §8): defined for completeness, not used --------------------


class Nmreq(AbiStruct):
    """The 60-byte legacy ``struct nmreq`` of NIOCGINFO / NIOCREGIF (nr_version >= 14)."""

    _fields_ = (
        ("nr_name", ctypes.c_char * IFNAMSIZ),
        ("nr_version", ctypes.c_uint32),
        ("nr_offset", ctypes.c_uint32),
        ("nr_memsize", ctypes.c_uint32),
        ("nr_tx_slots", ctypes.c_uint32),
        ("nr_rx_slots", ctypes.c_uint32),
        ("nr_tx_rings", ctypes.c_uint16),
        ("nr_rx_rings", ctypes.c_uint16),
        ("nr_ringid", ctypes.c_uint16),
        ("nr_cmd", ctypes.c_uint16),
        ("nr_arg1", ctypes.c_uint16),
        ("nr_arg2", ctypes.c_uint16),
        ("nr_arg3", ctypes.c_uint32),
        ("nr_flags", ctypes.c_uint32),
        ("spare2", ctypes.c_uint32 * 1),
    )


# --- ioctl numbers (spec §2): the Linux encoding, computed rather than copied -----------

_IOC_WRITE = 1
_IOC_READ = 2
_NETMAP_IOC_TYPE = ord("i")


def _ioc(direction: int, nr: int, size: int) -> int:
    """Linux ``_IOC``: direction in bits 30-31, argument size in 16-29, type 8-15, number 0-7."""
    return (direction << 30) | (size << 16) | (_NETMAP_IOC_TYPE << 8) | nr


NIOCGINFO = _ioc(_IOC_READ | _IOC_WRITE, 145, ctypes.sizeof(Nmreq))
NIOCREGIF = _ioc(_IOC_READ | _IOC_WRITE, 146, ctypes.sizeof(Nmreq))
NIOCTXSYNC = _ioc(0, 148, 0)
NIOCRXSYNC = _ioc(0, 149, 0)
NIOCCTRL = _ioc(_IOC_READ | _IOC_WRITE, 151, ctypes.sizeof(NmreqHeader))
