"""Ring state of one queue, and the small ring functions (spec §4.1).

A ring is ``count`` descriptors of 16 bytes at ``base`` in guest memory::

        software owns            hardware owns          software owns
    ───────────────────┬──────────────────────────────┬─────────────────
                       head (RDH/TDH)                 tail (RDT/TDT)
                       advanced by the device         written by the driver (doorbell)

The device owns the slots in ``[head, tail)``; ``head == tail`` means it owns none, so a
driver can hand over at most ``count - 1`` slots: one slot always stays empty.
"""

from __future__ import annotations

from typing import NamedTuple

from vnic.model import spec


def ring_used(head: int, tail: int, count: int) -> int:
    """Slots the device owns: ``[head, tail)`` modulo the ring size."""
    return (tail - head) % count


def ring_valid_length(length: int) -> bool:
    """RDLEN/TDLEN rule: a non-zero multiple of 128 bytes, not above MAX_RING_BYTES."""
    return 0 < length <= spec.MAX_RING_BYTES and length % spec.RING_ALIGN == 0


class Ring:
    """The device's view of one ring: the latched base/size and the live head/tail."""

    __slots__ = ("base", "bytes", "count", "enabled", "frames", "head", "qid", "tail")

    def __init__(self, qid: int) -> None:
        self.qid = qid
        self.frames = 0  # good frames through this queue since the model started
        self.bytes = 0
        self.reset()

    def reset(self) -> None:
        self.base = 0
        self.count = 0
        self.head = 0
        self.tail = 0
        self.enabled = False

    def latch(self, base: int, length: int) -> bool:
        """Take ring base and length from the registers; False if the length is invalid."""
        if not ring_valid_length(length):
            return False
        self.base = base
        self.count = length // spec.DESC_SIZE
        # A head or tail beyond the new size cannot be honoured: restart at an empty ring.
        if self.head >= self.count:
            self.head = 0
        if self.tail >= self.count:
            self.tail = self.head
        return True

    @property
    def used(self) -> int:
        return ring_used(self.head, self.tail, self.count) if self.count else 0

    def __repr__(self) -> str:
        state = "on" if self.enabled else "off"
        return (
            f"{type(self).__name__}({self.qid} {state} base={self.base:#x} "
            f"count={self.count} head={self.head} tail={self.tail})"
        )


class RxRing(Ring):
    """An RX queue: also the buffer size and descriptor type from SRRCTL."""

    __slots__ = ("bufsize", "legacy")

    def reset(self) -> None:
        super().reset()
        self.bufsize = 2048
        self.legacy = True  # SRRCTL resets to DESCTYPE = LEGACY

    @property
    def free(self) -> int:
        """Descriptors the driver gave the device and it has not filled: ``[head, tail)``."""
        return (self.tail - self.head) % self.count

    def needs(self, length: int, rx_max: int) -> int:
        """Descriptors a frame of ``length`` bytes takes: ceil(length / bufsize), as
        ``engines.rx_run`` writes it; 0 for one the device drops whatever the ring holds
        (longer than ``rx_max``, the longest frame it takes, or than the whole ring)."""
        need = -(-length // self.bufsize)
        return need if length <= rx_max and need < self.count else 0

    def room(self, frames: list[bytes], rx_max: int) -> int:
        """How many of ``frames``, from the first, find free descriptors now. While
        ``rx_max`` fits one buffer every frame takes one, and the lengths do not matter."""
        free = self.free
        if rx_max <= self.bufsize:
            return min(len(frames), free)
        for n, frame in enumerate(frames):
            need = self.needs(len(frame), rx_max)
            if need > free:
                return n
            free -= need
        return len(frames)


#: Offload contexts a TX queue stores (context descriptor IDX 0..1, as on the 82599).
TX_CONTEXTS = 2


class TxContext(NamedTuple):
    """An offload context (spec §3.4), as a context descriptor stored it."""

    maclen: int  # the IP header's offset in the frame
    iplen: int  # the IP header's length: the L4 header is at maclen + iplen
    ipv4: bool  # TUCMD.IPV4: IXSM may insert the IPv4 header checksum
    l4t: int  # TUCMD.L4T: 0 UDP, 1 TCP, 2 SCTP


class TxRing(Ring):
    """A TX queue: also the packet being gathered, the offload contexts stored by context
    descriptors and the head write-back address."""

    __slots__ = ("contexts", "head_wb", "pbad", "pieces", "plen", "popts")

    def reset(self) -> None:
        super().reset()
        self.head_wb: int | None = None  # TDWBAL/H address when HEAD_WB_EN, else None
        self.drop_partial()

    def drop_partial(self) -> None:
        """Forget the packet being gathered and the stored contexts (queue disabled, head
        rewritten, device reset): the driver starts the queue afresh."""
        self.pieces: list[bytes] = []  # buffers of a packet whose EOP is not fetched yet
        self.plen = 0
        self.pbad = ""  # drop reason ("" = good) of the packet being gathered
        self.popts = -1  # olinfo_status of its first data descriptor, -1 before that
        self.contexts: list[TxContext | None] = [None] * TX_CONTEXTS
