"""Interrupt cause, mask, routing and throttling (spec §2.2, §4.4, §4.5).

The path of one interrupt:

1. an event sets a cause bit in EICR: a queue event goes through its IVAR entry (in MSI-X mode
   the entry names a vector v and EICR bit v is set; in legacy mode it names the EICR bit);
   link changes set EICR.LSC, whose vector is IVAR_MISC.OTHER;
2. if the cause is enabled in EIMS, the vector fires, unless its EITR interval since the last
   message has not elapsed: then it is *deferred* until that moment (``service_due``);
3. firing sends the message (``signal(v)``), then, in MSI-X mode, clears the vector's EICR bits
   selected by EIAC (auto-clear) and, with GPIE.EIAME, its EIMS bits selected by EIAM
   (auto-mask). The driver re-enables by writing EIMS after servicing.

In legacy (INTx/MSI) mode there is one "vector", 0, throttled by EITR(0); the INTx line level
is ``EICR & EIMS != 0`` and reading EICR clears it.
"""

from __future__ import annotations

from collections.abc import Callable

from vnic.model import spec

_MSIX_MODE = spec.GPIE.mask("MSIX_MODE")
_EIAME = spec.GPIE.mask("EIAME")
_QUEUE_BITS = spec.EICR.mask("RTX_QUEUE")
_OTHER_BITS = 0xFFFFFFFF & ~_QUEUE_BITS  # causes that are not queues: LSC, RX_MISS, ...
_IVAR_VALID = 0x80
_IVAR_VECTOR = 0x3F
_ITR_MASK = spec.EITR.mask("ITR_INTERVAL")


class InterruptUnit:
    """EICR/EIMS/EIAC/EIAM/GPIE/IVAR/EITR state and the firing rule."""

    def __init__(
        self,
        signal: Callable[[int], object],
        clock: Callable[[], float],
        counters: dict[str, int],
    ) -> None:
        self._signal = signal  # called as signal(vector); the device forwards to signal_vector
        self._clock = clock
        self._lab = counters
        self.reset()

    def reset(self) -> None:
        self.eicr = 0
        self.eims = 0
        self.eiac = 0
        self.eiam = 0
        self.gpie = 0
        self.ivar = [0] * spec.NUM_IVAR
        self.ivar_misc = 0
        self.eitr = [0] * spec.NUM_VECTORS  # raw register values
        self._interval = [0.0] * spec.NUM_VECTORS  # seconds (clock units)
        self._next_ok = [0.0] * spec.NUM_VECTORS  # earliest time of the next message
        self.pending: dict[int, float] = {}  # deferred vector -> when it may fire

    # -- routing ---------------------------------------------------------------------------

    @property
    def msix(self) -> bool:
        return bool(self.gpie & _MSIX_MODE)

    def _misc_vector(self) -> int | None:
        e = (self.ivar_misc >> 8) & 0xFF
        return e & _IVAR_VECTOR if e & _IVAR_VALID else None

    def vector_bits(self, v: int) -> int:
        """EICR bits that vector ``v`` reports in MSI-X mode."""
        bits = 1 << v if v < 16 else 0
        if self._misc_vector() == v:
            bits |= _OTHER_BITS
        return bits

    def queue_event(self, queue: int, tx: bool) -> None:
        """RX (tx=False) or TX queue ``queue`` finished work: raise its IVAR-mapped cause."""
        entry = (self.ivar[queue >> 1] >> (16 * (queue & 1) + 8 * tx)) & 0xFF
        if entry & _IVAR_VALID:
            v = entry & _IVAR_VECTOR
            if v < 16:  # vectors and legacy EICR queue bits are 0..15
                self.set_cause(1 << v)

    def set_cause(self, bits: int) -> None:
        """Set EICR bits (an event or an EICS write) and fire what they enable."""
        self.eicr |= bits
        self._evaluate(bits)

    def _evaluate(self, bits: int) -> None:
        active = self.eicr & self.eims & bits
        if not active:
            return
        if not self.msix:
            self._try_fire(0)
            return
        q = active & _QUEUE_BITS
        v = 0
        while q:
            if q & 1:
                self._try_fire(v)
            q >>= 1
            v += 1
        if active & _OTHER_BITS:
            mv = self._misc_vector()
            if mv is not None and mv < spec.NUM_VECTORS:
                self._try_fire(mv)

    def _try_fire(self, v: int) -> None:
        if v >= spec.NUM_VECTORS:
            return
        now = self._clock()
        if self._interval[v] and now < self._next_ok[v]:
            if v not in self.pending:
                self.pending[v] = self._next_ok[v]
                self._lab["interrupts_deferred"] += 1
            return
        self._send(v, now)

    def _send(self, v: int, now: float) -> None:
        self._next_ok[v] = now + self._interval[v]
        self.pending.pop(v, None)
        if self.msix:
            bits = self.vector_bits(v)
            self.eicr &= ~(bits & self.eiac)
            if self.gpie & _EIAME:
                self.eims &= ~(bits & self.eiam)
        self._lab["interrupts"] += 1
        self._signal(v)

    def _still_active(self, v: int) -> bool:
        if self.msix:
            return bool(self.eicr & self.eims & self.vector_bits(v))
        return bool(self.eicr & self.eims)

    def service_due(self) -> None:
        """Fire deferred vectors whose EITR interval has elapsed (if still enabled)."""
        if not self.pending:
            return
        now = self._clock()
        for v, when in sorted(self.pending.items()):
            if when <= now:
                del self.pending[v]
                if self._still_active(v):
                    self._send(v, now)

    def next_deadline(self) -> float | None:
        return min(self.pending.values()) if self.pending else None

    @property
    def intx_level(self) -> bool:
        return bool(self.eicr & self.eims)

    # -- register accessors (called through the device's handler table) -------------------

    def read_eicr(self) -> int:
        v = self.eicr
        if not self.msix:  # legacy mode: read-to-clear, which also drops the INTx line
            self.eicr = 0
        return v

    def write_eicr(self, value: int) -> None:
        self.eicr &= ~value

    def write_eics(self, value: int) -> None:
        self.set_cause(value)

    def write_eims(self, value: int) -> None:
        self.eims |= value
        self._evaluate(value)  # a cause that was pending while masked fires now

    def write_eimc(self, value: int) -> None:
        self.eims &= ~value

    def write_eitr(self, v: int, value: int) -> None:
        self.eitr[v] = value
        self._interval[v] = ((value & _ITR_MASK) >> 3) * spec.ITR_UNIT_S
