"""Checksum offload: the Internet checksums the device inserts on TX and checks on RX.

TX (spec §3.3, §3.4): a context descriptor says where a packet's IP header starts (MACLEN),
how long it is (IPLEN) and which L4 checksum to insert (TUCMD.L4T); the TX engine stores it
in its queue under its IDX (``TxRing.contexts``). A packet whose first data descriptor has
IXSM or TXSM is handed to :func:`tx_checksum` once it is whole (EOP), with the context its
IDX names:

* IXSM (context with TUCMD.IPV4, IPLEN >= 20): the IPv4 header checksum at MACLEN + 10 is
  recomputed over the IPLEN bytes at MACLEN (whatever the field held counts as 0);
* TXSM (L4T TCP or UDP): the L4 header is at L = MACLEN + IPLEN, its checksum field at
  L + 16 (TCP) or L + 6 (UDP). The driver has put the pseudo-header sum there (Linux's
  CHECKSUM_PARTIAL); the device sums ``[L, end of frame)`` with that seed and stores the
  complement, a UDP result of 0 as 0xFFFF — what Linux's ``skb_checksum_help`` does in
  software (which also writes a TCP 0 as 0xFFFF, the same value in one's complement). The IP
  header is not parsed: IPv4 and IPv6 alike, MACLEN and IPLEN are trusted as hardware does.

Either every checksum asked for is inserted (``tx_csum_offloaded``) or the frame is sent
unchanged and counted: ``tx_csum_bad_context`` (no context stored at IDX, IXSM with a
context that is not IPv4 or an IPLEN below 20, a header or checksum field beyond the
frame) or ``tx_csum_unsupported`` (TXSM with L4T SCTP or the reserved 3).

RX (RXCSUM.IPOFL, RXCSUM.TUOFL; off after reset, then nothing here runs): :func:`rx_status`
gives the status and error bits of a frame's advanced write-back. IPv4 frames get IPCS (and
ERR_IPE if the header checksum is wrong); TCP and UDP over IPv4 or over IPv6 get L4CS, UDP
also UDPCS (and ERR_TCPE if the checksum is wrong). Not checked, so no bits: IPv4 fragments'
L4 checksums, UDP over IPv4 with checksum 0 (none sent), IPv6 with extension headers, VLAN
tagged frames, frames whose IP length fields point beyond the frame or whose L4 header is
short. The L4 segment ends where the IP header says (total or payload length), so Ethernet
padding is not summed. Over IPv6 a UDP checksum of 0 is invalid (RFC 8200): ERR_TCPE.

The sums are cheap: ``int.from_bytes(data, "little") % 0xFFFF`` adds all 16-bit words in C
(2**16 is 1 modulo 0xFFFF). Reading little-endian gives the words byte-swapped, and the
one's-complement sum of swapped words is the swapped sum (RFC 1071 §2(B)); so checksums are
stored back little-endian and come out right. An odd last byte is the low byte of a word, as
if padded with a zero byte.
"""

from __future__ import annotations

import struct

from vnic.model import spec
from vnic.model.rings import TxContext

_TXD = spec.ADV_TX_DESC.format("read")
TXD_IXSM = _TXD.field("IXSM").mask
TXD_TXSM = _TXD.field("TXSM").mask
_TXD_IDX = _TXD.field("IDX")

_CTX = spec.ADV_TX_CTXT_DESC.format("read")
_CTX_IPLEN = _CTX.field("IPLEN")
_CTX_MACLEN = _CTX.field("MACLEN")
_CTX_IPV4 = _CTX.field("TUCMD_IPV4").mask
_CTX_L4T = _CTX.field("TUCMD_L4T")
_L4T = dict(_CTX_L4T.values)
#: offset of the checksum field in the L4 header, by L4T (SCTP has none we insert)
_L4_CSUM_AT = {_L4T["TCP"]: 16, _L4T["UDP"]: 6}

_WB = spec.ADV_RX_DESC.format("wb")
_IPCS = _WB.field("IPCS").mask
_L4CS = _WB.field("L4CS").mask
_UDPCS = _WB.field("UDPCS").mask
_ERR_IPE = _WB.field("ERR_IPE").mask
_ERR_TCPE = _WB.field("ERR_TCPE").mask
RX_IPOFL = spec.RXCSUM.mask("IPOFL")
RX_TUOFL = spec.RXCSUM.mask("TUOFL")

_IPV4 = b"\x08\x00"
_IPV6 = b"\x86\xdd"
_TCP = 6
_UDP = 17
_IP4 = struct.Struct("!BxH2xHxB")  # version/IHL, total length, flags/fragment offset, protocol
_IP6 = struct.Struct("!B3xHB")  # version, payload length, next header


def _sum(data: bytes | bytearray) -> int:
    """One's-complement sum of ``data`` (byte-swapped words) modulo 0xFFFF: 0 stands for
    both 0 and 0xFFFF."""
    return int.from_bytes(data, "little") % 0xFFFF


def _checksum(data: bytes | bytearray) -> int:
    """The Internet checksum of ``data`` (RFC 1071), to be stored little-endian."""
    s = _sum(data)
    if s:
        return 0xFFFF - s
    return 0 if data.strip(b"\0") else 0xFFFF  # a sum of 0xFFFF, or of nothing but zeros


def context(vlan_macip_lens: int, type_tucmd_mlhl: int) -> TxContext:
    """The context a context descriptor describes (its first and third dwords)."""
    return TxContext(
        (vlan_macip_lens & _CTX_MACLEN.mask) >> _CTX_MACLEN.lsb,
        (vlan_macip_lens & _CTX_IPLEN.mask) >> _CTX_IPLEN.lsb,
        bool(type_tucmd_mlhl & _CTX_IPV4),
        (type_tucmd_mlhl & _CTX_L4T.mask) >> _CTX_L4T.lsb,
    )


def tx_checksum(contexts: list[TxContext | None], frame: bytes, popts: int) -> tuple[bytes, str]:
    """Insert the checksums the ``olinfo_status`` ``popts`` of a packet's first data
    descriptor asks for (IXSM, TXSM), with the context its IDX names. Returns the frame and
    the lab counter to count it in (see the module's docstring)."""
    idx = (popts & _TXD_IDX.mask) >> _TXD_IDX.lsb
    ctx = contexts[idx] if idx < len(contexts) else None
    if ctx is None:
        return frame, "tx_csum_bad_context"
    maclen, iplen, ipv4, l4t = ctx
    l4 = maclen + iplen
    n = len(frame)
    at = 0
    if popts & TXD_TXSM:
        field = _L4_CSUM_AT.get(l4t)
        if field is None:
            return frame, "tx_csum_unsupported"
        at = l4 + field
        if at + 2 > n:
            return frame, "tx_csum_bad_context"
    ixsm = popts & TXD_IXSM
    if ixsm and (not ipv4 or iplen < 20 or l4 > n):
        return frame, "tx_csum_bad_context"
    buf = bytearray(frame)
    if ixsm:
        ck = maclen + 10
        buf[ck : ck + 2] = b"\0\0"
        buf[ck : ck + 2] = _checksum(buf[maclen:l4]).to_bytes(2, "little")
    if at:
        c = _checksum(frame[l4:])  # the L4 part, seed included; IXSM changed nothing there
        if c == 0 and l4t == _L4T["UDP"]:
            c = 0xFFFF  # UDP: 0 means "no checksum"
        buf[at : at + 2] = c.to_bytes(2, "little")
    return bytes(buf), "tx_csum_offloaded"


def rx_status(frame: bytes, enabled: int) -> int:
    """Status and error bits of ``frame``'s advanced RX write-back; ``enabled`` is RXCSUM's
    IPOFL and TUOFL bits (see the module's docstring)."""
    n = len(frame)
    et = frame[12:14]
    if et == _IPV4:
        if n < 34:
            return 0
        vihl, total, frag, proto = _IP4.unpack_from(frame, 14)
        hl = (vihl & 0xF) * 4
        end = 14 + hl  # the L4 header
        if vihl >> 4 != 4 or hl < 20 or end > n:
            return 0
        st = 0
        if enabled & RX_IPOFL:
            st = _IPCS | _ERR_IPE if _sum(frame[14:end]) else _IPCS
        stop = 14 + total
        if not enabled & RX_TUOFL or frag & 0x3FFF or stop > n or stop < end:  # 0x3FFF: MF, offset
            return st
        ln = stop - end
        if proto == _TCP and ln >= 20:
            st |= _L4CS
        elif proto == _UDP and ln >= 8:
            if not frame[end + 6] | frame[end + 7]:
                return st  # no checksum sent
            st |= _L4CS | _UDPCS
        else:
            return st
        # pseudo-header: addresses, protocol, L4 length; without IP options the addresses
        # and the L4 segment are one run of bytes
        if end == 34:
            s = int.from_bytes(frame[26:stop], "little")
        else:
            s = int.from_bytes(frame[26:34], "little") + int.from_bytes(frame[end:stop], "little")
    elif et == _IPV6:
        if n < 54 or not enabled & RX_TUOFL:
            return 0
        v, ln, proto = _IP6.unpack_from(frame, 14)
        stop = 54 + ln
        if v >> 4 != 6 or stop > n:
            return 0
        if proto == _TCP and ln >= 20:
            st = _L4CS
        elif proto == _UDP and ln >= 8:
            st = _L4CS | _UDPCS
        else:
            return 0  # not TCP or UDP, an extension header, or a short L4 header
        # pseudo-header: addresses (one run of bytes with the L4 segment), length, protocol
        s = int.from_bytes(frame[22:stop], "little")
    else:
        return 0
    s += (proto << 8) + ((ln & 0xFF) << 8 | ln >> 8)  # the pseudo-header's other words, swapped
    if s % 0xFFFF:
        st |= _ERR_TCPE
    return st
