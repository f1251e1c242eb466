"""A vNIC driver in user space, in Python: reset, one TX ring, one RX ring.

    python3 driver.py identify
    python3 driver.py send --dst-mac MAC --dst-ip IP --src-ip IP --port P --nonce HEX
                           --count N [--batch 32] [--size 32]
    python3 driver.py receive --port P --nonce HEX --count N [--size 32] [--idle 30]
                              [--interrupt]

Each command starts from a reset device (nothing is left of an earlier run) and prints one
JSON line.  ``send --count 1`` sends one frame and waits for its write-back (step 2); a
larger count sends in batches of ``--batch`` frames, one doorbell per batch (step 3).
``receive`` takes ``--count`` datagrams of this run to ``--port`` and prints a SHA-256 of
their payloads in the order they came (step 4); with ``--interrupt`` it sleeps on the
device's interrupt while the ring is empty (step 5).

The register and descriptor names are the datasheet's (``docs/reference/datasheet.rst``,
generated from the register spec); ``nic.py`` maps the registers and the DMA memory.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import struct
import time
from collections.abc import Callable

from nic import (
    DmaMemory,
    Interrupts,
    Nic,
    NicError,
    bits,
    datagram,
    desc_bits,
    spec,
    udp_frame,
    udp_payload,
)

RING = 256  # descriptors per ring: 4 KiB, a multiple of the 128 bytes TDLEN/RDLEN need
BUFFER = 2048  # bytes per frame buffer (SRRCTL.BSIZEPKT counts KiB)

# The descriptors' layouts, from the spec (16 bytes each, little-endian).
TX_READ = struct.Struct("<QII")  # buffer_addr, cmd_type_len, olinfo_status
TX_WB_STATUS = 12  # byte offset of the status word in the TX write-back
RX_READ = struct.Struct("<QQ")  # pkt_addr, hdr_addr
RX_WB = struct.Struct("<8xIH2x")  # status_error, length (the rest is not used here)
TX_CMD = desc_bits(spec.ADV_TX_DESC, "read", "cmd_type_len", "EOP", "IFCS", "RS", "DEXT", DTYP=3)
TX_DD = desc_bits(spec.ADV_TX_DESC, "wb", "status", "DD")
RX_DD = desc_bits(spec.ADV_RX_DESC, "wb", "status_error", "DD")
RX_EOP = desc_bits(spec.ADV_RX_DESC, "wb", "status_error", "EOP")
RX_BATCH = 32  # descriptors given back to the device with one RDT write


def wait_for(ready: Callable[[], int], what: str, seconds: float = 1.0) -> None:
    """Poll ``ready`` (a register read) until it is true; the device answers at once,
    but a driver never waits without a deadline."""
    deadline = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > deadline:
            raise NicError(f"{what} did not happen within {seconds} s")
        time.sleep(0.001)


def reset_and_identify(nic: Nic) -> dict[str, object]:
    """Reset the device, wait for the reset to end, and read its MAC and link state."""
    # TODO 1: write CTRL.RST, wait until CTRL reads RST as 0 again, then read the MAC
    # from RAL(0) (its first four bytes) and RAH(0) (the last two, in bits 15:0) and
    # the link from LINKS.LINK_UP
    nic.write("CTRL", bits("CTRL", "RST"))
    wait_for(lambda: not nic.read("CTRL") & bits("CTRL", "RST"), "the reset")
    low, high = nic.read("RAL", 0), nic.read("RAH", 0)
    mac = (low | (high & 0xFFFF) << 32).to_bytes(6, "little")
    link_up = bool(nic.read("LINKS") & bits("LINKS", "LINK_UP"))
    return {"mac": ":".join(f"{b:02x}" for b in mac), "link_up": link_up}
    # END TODO 1


class TxRing:
    """TX queue 0: ``size`` descriptors and one buffer for each, in DMA memory.

    Software fills descriptors at ``tail`` and hands them over by writing TDT (the
    doorbell); the device sends them and writes DD back into each one (RS asks it to).
    Descriptors from ``clean`` up to ``tail`` are the device's until their DD is set.
    """

    def __init__(self, nic: Nic, mem: DmaMemory, size: int = RING) -> None:
        self.nic, self.mem, self.size = nic, mem, size
        self.ring = mem.alloc(size * spec.DESC_SIZE)
        self.buffers = [mem.alloc(BUFFER, BUFFER) for _ in range(size)]
        self.tail = self.clean = 0
        # TODO 2: allow DMA (nic.bus_master), give the device the ring (TDBAL, TDBAH:
        # mem.iova of it; TDLEN in bytes), set TDH and TDT to 0, turn transmission on
        # (DMATXCTL.TE) and then the queue (TXDCTL.ENABLE, and wait until it reads 1)
        nic.bus_master(True)
        base = mem.iova(self.ring)
        nic.write("TDBAL", base & 0xFFFF_FFFF, 0)
        nic.write("TDBAH", base >> 32, 0)
        nic.write("TDLEN", size * spec.DESC_SIZE, 0)
        nic.write("TDH", 0, 0)
        nic.write("TDT", 0, 0)
        nic.write("DMATXCTL", spec.DMATXCTL.reset | bits("DMATXCTL", "TE"))
        nic.write("TXDCTL", bits("TXDCTL", "ENABLE"), 0)
        wait_for(lambda: nic.read("TXDCTL", 0) & bits("TXDCTL", "ENABLE"), "TXDCTL.ENABLE")
        # END TODO 2

    def free(self) -> int:
        """Descriptors software may fill: one always stays empty, so that a full ring
        (tail one behind clean) and an empty one (tail == clean) look different."""
        return self.size - 1 - (self.tail - self.clean) % self.size

    def done(self, i: int) -> bool:
        """Has the device written DD back into descriptor ``i``?  A memory read: free."""
        offset = self.ring + i * spec.DESC_SIZE + TX_WB_STATUS
        return bool(int.from_bytes(self.mem.buf[offset : offset + 4], "little") & TX_DD)

    def put(self, frame: bytes) -> None:
        """Copy ``frame`` into the buffer of descriptor ``tail``, fill the descriptor and
        move ``tail`` on; the device does not know yet (no doorbell)."""
        # TODO 2: copy the frame into self.buffers[self.tail], then write the descriptor:
        # buffer_addr, cmd_type_len = TX_CMD | length, olinfo_status = length << 14
        # (PAYLEN); then advance self.tail (it wraps at self.size)
        buffer = self.buffers[self.tail]
        self.mem.buf[buffer : buffer + len(frame)] = frame
        TX_READ.pack_into(
            self.mem.buf,
            self.ring + self.tail * spec.DESC_SIZE,
            self.mem.iova(buffer),
            TX_CMD | len(frame),
            len(frame) << 14,
        )
        self.tail = (self.tail + 1) % self.size
        # END TODO 2

    def doorbell(self) -> None:
        """Hand every filled descriptor to the device: one register write."""
        self.nic.write("TDT", self.tail, 0)

    def reclaim(self) -> int:
        """Take back the descriptors the device is done with (DD); how many."""
        n = 0
        while self.clean != self.tail and self.done(self.clean):
            self.clean = (self.clean + 1) % self.size
            n += 1
        return n

    def send_one(self, frame: bytes, seconds: float = 5.0) -> None:
        """Send one frame and wait until the device has written it back."""
        # TODO 2: put the frame, ring the doorbell, then poll the descriptor's DD (in
        # memory, not TDH: a register read is a trap) until the device is done
        sent = self.tail
        self.put(frame)
        self.doorbell()
        deadline = time.monotonic() + seconds
        while not self.done(sent):
            if time.monotonic() > deadline:
                raise NicError(f"descriptor {sent} got no DD within {seconds} s")
        self.reclaim()
        # END TODO 2

    def send_batched(self, frames: list[bytes], batch: int, seconds: float = 30.0) -> int:
        """Send every frame in batches of up to ``batch``, one doorbell per batch,
        reclaiming from write-back only; the number of doorbells rung."""
        # TODO 3: until every frame is sent: reclaim, put as many frames as the ring has
        # room for (at most batch), ring the doorbell once; then wait until all are done
        deadline = time.monotonic() + seconds
        sent = doorbells = 0
        while sent < len(frames):
            self.reclaim()
            n = min(batch, self.free(), len(frames) - sent)
            if n == 0:
                if time.monotonic() > deadline:
                    raise NicError(f"the TX ring stayed full; {sent} frames sent")
                continue
            for frame in frames[sent : sent + n]:
                self.put(frame)
            self.doorbell()
            sent += n
            doorbells += 1
        while self.reclaim() or self.clean != self.tail:
            if time.monotonic() > deadline:
                raise NicError("the device did not write back every descriptor")
        return doorbells
        # END TODO 3


class RxRing:
    """RX queue 0: ``size`` descriptors, each pointing at a buffer the device may fill.

    The device owns the descriptors from RDH up to (not including) RDT; software reads
    them at ``next`` once their DD is set, re-arms them and gives them back by moving RDT.
    """

    def __init__(self, nic: Nic, mem: DmaMemory, size: int = RING) -> None:
        self.nic, self.mem, self.size = nic, mem, size
        self.ring = mem.alloc(size * spec.DESC_SIZE)
        self.buffers = [mem.alloc(BUFFER, BUFFER) for _ in range(size)]
        self.next = 0
        # TODO 4: allow DMA; SRRCTL(0): advanced one-buffer descriptors and 2 KiB
        # buffers; the ring's base and length; RDH = RDT = 0; RXDCTL.ENABLE (wait for it);
        # arm every descriptor (self.arm), hand all but the last over with one RDT write
        # (the last is armed too: it is the device's as soon as RDT moves on); RXCTRL.RXEN
        nic.bus_master(True)
        nic.write("SRRCTL", bits("SRRCTL", DESCTYPE=1, BSIZEPKT=BUFFER // 1024), 0)
        base = mem.iova(self.ring)
        nic.write("RDBAL", base & 0xFFFF_FFFF, 0)
        nic.write("RDBAH", base >> 32, 0)
        nic.write("RDLEN", size * spec.DESC_SIZE, 0)
        nic.write("RDH", 0, 0)
        nic.write("RDT", 0, 0)
        nic.write("RXDCTL", bits("RXDCTL", "ENABLE"), 0)
        wait_for(lambda: nic.read("RXDCTL", 0) & bits("RXDCTL", "ENABLE"), "RXDCTL.ENABLE")
        for i in range(size):
            self.arm(i)
        nic.write("RDT", size - 1, 0)
        nic.write("RXCTRL", bits("RXCTRL", "RXEN"))
        # END TODO 4

    def arm(self, i: int) -> None:
        """Point descriptor ``i`` at its buffer again (hdr_addr 0 clears a stale DD)."""
        RX_READ.pack_into(
            self.mem.buf, self.ring + i * spec.DESC_SIZE, self.mem.iova(self.buffers[i]), 0
        )

    def receive(
        self,
        accept: Callable[[bytes], bool],
        count: int,
        idle: float,
        irq: Interrupts | None = None,
    ) -> int:
        """Hand each received frame to ``accept`` until it has said yes ``count`` times
        or nothing came for ``idle`` seconds; descriptors go back RX_BATCH at a time, with
        one RDT write.  With ``irq``, an empty ring sleeps until the device interrupts
        (step 5) instead of polling.  The number accepted."""
        # TODO 4: while fewer than count were accepted: if descriptor self.next has DD,
        # read its length, give its frame to accept, re-arm it, move self.next on, and
        # after RX_BATCH of them write RDT once (to the last one processed: it becomes
        # the one descriptor the device must not have); with nothing there, sleep a little
        accepted = pending = 0
        last = time.monotonic()
        while accepted < count:
            offset = self.ring + self.next * spec.DESC_SIZE
            status, length = RX_WB.unpack_from(self.mem.buf, offset)
            if not status & RX_DD:
                if pending:  # idle: give back what is done, the device may need it
                    self.nic.write("RDT", (self.next - 1) % self.size, 0)
                    pending = 0
                if time.monotonic() - last > idle:
                    break
                if irq is not None:
                    wait_for_frames(self.nic, irq)
                else:
                    time.sleep(0.0005)
                continue
            last = time.monotonic()
            if status & RX_EOP:  # one 2 KiB buffer holds any frame this exercise sees
                buffer = self.buffers[self.next]
                accepted += accept(bytes(self.mem.buf[buffer : buffer + length]))
            self.arm(self.next)
            self.next = (self.next + 1) % self.size
            pending += 1
            if pending == RX_BATCH:
                self.nic.write("RDT", (self.next - 1) % self.size, 0)
                pending = 0
        if pending:
            self.nic.write("RDT", (self.next - 1) % self.size, 0)
        return accepted
        # END TODO 4


def route_rx_interrupt(nic: Nic) -> None:
    """Step 5: make RX queue 0's frames raise the device's interrupt (INTx)."""
    # TODO 5: in legacy (INTx) mode IVAR(0)'s low byte names the EICR bit RX queue 0
    # sets (bit 0, with the valid bit 0x80); then enable that cause in EIMS
    nic.write("IVAR", 0x80 | 0, 0)
    nic.write("EIMS", 1 << 0)
    # END TODO 5


def wait_for_frames(nic: Nic, irq: Interrupts) -> None:
    """Step 5: sleep until the device interrupts (or 100 ms pass), then take the cause."""
    # TODO 5: unmask INTx (irq.arm), wait for it (irq.wait), then read EICR: the read
    # clears the cause, and with it the INTx line
    irq.arm()
    irq.wait(0.1)
    nic.read("EICR")
    # END TODO 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["identify", "send", "receive"])
    parser.add_argument("--dst-mac", default="")
    parser.add_argument("--dst-ip", default="")
    parser.add_argument("--src-ip", default="")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--nonce", default="0" * 16)
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--idle", type=float, default=30.0)
    parser.add_argument("--interrupt", action="store_true", help="receive: sleep on INTx")
    args = parser.parse_args()
    nonce = bytes.fromhex(args.nonce)
    nic = Nic()
    identity = reset_and_identify(nic)
    if args.command == "identify":
        print(json.dumps(identity))
        return
    mem = DmaMemory()
    if args.command == "send":
        tx = TxRing(nic, mem)
        frames = [
            udp_frame(
                str(identity["mac"]), args.dst_mac, args.src_ip, args.dst_ip, args.port,
                datagram(seq, nonce, args.size),
            )
            for seq in range(args.count)
        ]  # fmt: skip
        started = time.perf_counter()
        if args.count == 1:
            tx.send_one(frames[0])
            doorbells = 1
        else:
            doorbells = tx.send_batched(frames, args.batch)
        seconds = time.perf_counter() - started
        print(json.dumps({"sent": args.count, "doorbells": doorbells, "seconds": seconds}))
        return
    irq = Interrupts(nic) if args.interrupt else None
    rx = RxRing(nic, mem)
    if irq is not None:
        route_rx_interrupt(nic)
    digest = hashlib.sha256()
    wanted = {datagram(seq, nonce, args.size) for seq in range(args.count)}

    def accept(frame: bytes) -> bool:
        payload = udp_payload(frame, args.port)
        if payload not in wanted:
            return False  # not this run's: the other guest's IPv6 chatter, say
        digest.update(payload)
        return True

    received = rx.receive(accept, args.count, args.idle, irq)
    print(json.dumps({"received": received, "sha256": digest.hexdigest()}))


if __name__ == "__main__":
    main()
