"""Checksum offload (spec §3.3, §3.4; RXCSUM): TX inserts what scapy computes, RX reports it.

TX frames are built with scapy, their L4 checksum field seeded with the pseudo-header sum as
Linux's CHECKSUM_PARTIAL leaves it (and the IPv4 header checksum spoiled for IXSM), sent
through a TX queue after a context descriptor, caught on the wire and compared byte for byte
with the packet scapy builds itself. The pseudo-header sums here are computed word by word,
apart from the model's arithmetic.
"""

from __future__ import annotations

import itertools
import struct

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw

from tests.unit.model_fixtures import MAC, PEER, sent, up
from vnic.model import spec
from vnic.model.device import Vnic
from vnic.model.testing import RX_DD, RX_EOP, TX_DD, TXD_DATA, TXD_EOP, MiniDriver

_CTX = spec.ADV_TX_CTXT_DESC.format("read")
_TXF = spec.ADV_TX_DESC.format("read")
_WB = spec.ADV_RX_DESC.format("wb")
CTX_TYPE = _CTX.field("DTYP").value("CTXT") | _CTX.field("DEXT").mask
TUCMD_IPV4 = _CTX.field("TUCMD_IPV4").mask
L4T = {name: _CTX.field("TUCMD_L4T").value(name) for name in ("UDP", "TCP", "SCTP")}
IXSM = _TXF.field("IXSM").mask
TXSM = _TXF.field("TXSM").mask
IPCS, L4CS, UDPCS = (_WB.field(n).mask for n in ("IPCS", "L4CS", "UDPCS"))
ERR_IPE, ERR_TCPE = _WB.field("ERR_IPE").mask, _WB.field("ERR_TCPE").mask
CSUM_BITS = IPCS | L4CS | UDPCS | ERR_IPE | ERR_TCPE
RXCSUM_ON = spec.RXCSUM.mask("IPOFL", "TUOFL")

V4 = {"src": "198.18.0.1", "dst": "198.18.0.2"}
V6 = {"src": "2001:db8::1", "dst": "2001:db8::2"}


def packet(ip: str, l4: str, payload: bytes = b"hello, world!", **ip_kw: object) -> Packet:
    """An Ethernet frame with every checksum left to scapy."""
    net = IP(**V4, **ip_kw) if ip == "v4" else IPv6(**V6, **ip_kw)
    top = TCP(sport=4242, dport=80, flags="PA", seq=7) if l4 == "tcp" else UDP(sport=53, dport=9)
    pkt: Packet = Ether(dst=PEER, src=MAC) / net / top / Raw(payload)
    return pkt


def fold(data: bytes) -> int:
    """One's-complement sum of big-endian 16-bit words, word by word (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    s = 0
    for (w,) in struct.iter_unpack("!H", data):
        s += w
        s = (s & 0xFFFF) + (s >> 16)
    return s


def layout(frame: bytes) -> tuple[int, int, int, int]:
    """(MACLEN, IPLEN, L4T, offset of the L4 checksum) of a scapy-built frame."""
    pkt = Ether(frame)
    net = pkt[1]
    iplen = net.ihl * 4 if isinstance(net, IP) else 40
    is_tcp = TCP in pkt
    return 14, iplen, L4T["TCP" if is_tcp else "UDP"], 14 + iplen + (16 if is_tcp else 6)


def partial(frame: bytes, spoil_ip: bool = False) -> bytes:
    """``frame`` as Linux hands a CHECKSUM_PARTIAL skb to the driver: the L4 checksum field
    holds the folded pseudo-header sum; with ``spoil_ip`` the IPv4 header checksum is junk."""
    maclen, iplen, _l4t, at = layout(frame)
    l4 = frame[maclen + iplen :]
    if iplen == 40:  # IPv6: addresses, upper-layer length, next header
        nh = frame[maclen + 6]
        pseudo = frame[22:54] + struct.pack("!IxxxB", len(l4), nh)
    else:
        proto = frame[maclen + 9]
        pseudo = frame[26:34] + struct.pack("!xBH", proto, len(l4))
    out = bytearray(frame)
    out[at : at + 2] = struct.pack("!H", fold(pseudo))
    if spoil_ip:
        out[maclen + 10 : maclen + 12] = b"\xde\xad"
    return bytes(out)


def ctx_desc(
    maclen: int, iplen: int, l4t: int, ipv4: bool = True, idx: int = 0
) -> tuple[int, int, int]:
    """A context descriptor as (buffer_addr, cmd_type_len, olinfo_status) words."""
    lens = iplen | maclen << _CTX.field("MACLEN").lsb
    return lens, CTX_TYPE | l4t | (TUCMD_IPV4 if ipv4 else 0), idx << _CTX.field("IDX").lsb


def data_desc(addr: int, ln: int, popts: int, idx: int = 0, eop: bool = True, paylen: int = 0):
    """A data descriptor; ``popts`` and ``idx`` go into olinfo_status."""
    olinfo = (paylen or ln) << 14 | popts | idx << _TXF.field("IDX").lsb
    return addr, ln | TXD_DATA | (TXD_EOP if eop else 0), olinfo


def padded(frame: bytes) -> bytes:
    """``frame`` as it leaves the device: HLREG0.TXPADEN pads it to 60 bytes."""
    return frame + bytes(max(0, spec.MIN_FRAME - len(frame)))


def put(drv: MiniDriver, data: bytes) -> int:
    addr = drv.alloc(len(data), align=64)
    drv.poke(addr, data)
    return addr


def send_offloaded(
    frame: bytes, popts: int, ctx: tuple[int, int, int] | None = None, idx: int = 0
) -> tuple[Vnic, list[bytes]]:
    """Send ``frame`` after the context ``ctx`` (default: the frame's own), one buffer."""
    d, drv, wire = up()
    maclen, iplen, l4t, _at = layout(frame)
    ctx = ctx or ctx_desc(maclen, iplen, l4t, ipv4=iplen != 40)
    drv.post_raw(0, [ctx, data_desc(put(drv, frame), len(frame), popts, idx)])
    d.run_until_idle()
    return d, sent(wire)


# -------------------------------------------------------------------------------------------
# TX
# -------------------------------------------------------------------------------------------

KINDS = [("v4", "tcp"), ("v4", "udp"), ("v6", "tcp"), ("v6", "udp")]
PAYLOADS = [b"", b"x", b"hello, world!", bytes(range(256)) * 5 + b"odd"]


@pytest.mark.parametrize("ip, l4", KINDS)
@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: f"{len(p)}B")
def test_tx_txsm_inserts_the_l4_checksum_scapy_computes(ip: str, l4: str, payload: bytes) -> None:
    want = bytes(packet(ip, l4, payload))
    given = partial(want)
    assert given != want  # the seed is not the checksum
    popts = TXSM | (IXSM if ip == "v4" else 0)
    d, got = send_offloaded(given, popts)
    assert got == [padded(want)]
    c = d.counters()
    assert c["tx_csum_offloaded"] == 1 and c["tx_csum_bad_context"] == 0


@pytest.mark.parametrize("l4", ["tcp", "udp"])
def test_tx_ixsm_recomputes_the_ipv4_header_checksum_with_options(l4: str) -> None:
    want = bytes(packet("v4", l4, b"with options", options=b"\x01\x01\x01\x00", ttl=3))
    assert Ether(want)[IP].ihl == 6  # IPLEN 24: the L4 header moves with it
    _d, got = send_offloaded(partial(want, spoil_ip=True), IXSM | TXSM)
    assert got == [padded(want)]
    # IXSM alone: the IP header is fixed, the L4 field keeps the driver's seed
    _d, got = send_offloaded(partial(want, spoil_ip=True), IXSM)
    assert got == [padded(partial(want))]


def test_tx_ipv4_header_checksum_left_alone_without_ixsm() -> None:
    want = bytes(packet("v4", "tcp"))
    given = partial(want, spoil_ip=True)
    _d, got = send_offloaded(given, TXSM)
    assert got[0][24:26] == b"\xde\xad" and got[0][34:] == want[34:]


@pytest.mark.parametrize("l4, wire_value", [("udp", 0xFFFF), ("tcp", 0x0000)])
def test_tx_checksum_zero_is_ffff_for_udp_only(l4: str, wire_value: int) -> None:
    # the payload's last word makes the one's-complement sum 0xFFFF: the checksum is 0
    probe = Ether(bytes(packet("v4", l4, b"zero sum" + b"\0\0")))
    ck = probe[TCP if l4 == "tcp" else UDP].chksum
    want = bytes(packet("v4", l4, b"zero sum" + struct.pack("!H", ck)))
    _maclen, _iplen, _l4t, at = layout(want)
    assert struct.unpack("!H", want[at : at + 2])[0] == wire_value  # scapy agrees
    _d, got = send_offloaded(partial(want), TXSM | IXSM)
    assert got == [padded(want)]


def test_tx_multi_descriptor_frame_is_summed_whole() -> None:
    d, drv, wire = up()
    want = bytes(packet("v4", "tcp", bytes(range(200)) * 3))
    given = partial(want, spoil_ip=True)
    cuts = [0, 7, 35, 301, len(given)]  # through the IP header, the TCP header, the payload
    parts = [given[a:b] for a, b in itertools.pairwise(cuts)]
    descs = [ctx_desc(14, 20, L4T["TCP"])]
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        popts = TXSM | IXSM if i == 0 else 0  # the first descriptor asks for the packet
        descs.append(data_desc(put(drv, part), len(part), popts, eop=last, paylen=len(given)))
    drv.post_raw(0, descs)
    d.run_until_idle()
    assert sent(wire) == [want]
    assert drv.tx_status(0, len(descs) - 1) & TX_DD


def test_tx_packet_split_by_the_tail_keeps_its_request() -> None:
    d, drv, wire = up()
    want = bytes(packet("v6", "udp", b"u" * 301))
    given = partial(want)
    head, tail = given[:60], given[60:]
    drv.post_raw(0, [ctx_desc(14, 40, L4T["UDP"], ipv4=False)])
    drv.post_raw(0, [data_desc(put(drv, head), len(head), TXSM, eop=False)], rs_last=False)
    d.run_until_idle()
    assert wire == []
    drv.post_raw(0, [data_desc(put(drv, tail), len(tail), 0)])  # its own bits do not count
    d.run_until_idle()
    assert sent(wire) == [want]


def test_tx_context_serves_later_batches_of_one_buffer_frames() -> None:
    # the context in one batch, then batches of data descriptors only: the kind of batch
    # the fast path takes, which must leave offloaded frames to the slow path
    d, drv, wire = up()
    frames = [bytes(packet("v4", "udp", bytes([i]) * (20 + i))) for i in range(8)]
    drv.post_raw(0, [ctx_desc(14, 20, L4T["UDP"])])
    d.run_until_idle()
    drv.post_raw(0, [data_desc(put(drv, partial(f)), len(f), TXSM) for f in frames])
    d.run_until_idle()
    assert sent(wire) == frames
    assert d.counters()["tx_csum_offloaded"] == 8


def test_tx_two_contexts_by_index() -> None:
    d, drv, wire = up()
    tcp4 = bytes(packet("v4", "tcp"))
    udp6 = bytes(packet("v6", "udp"))
    drv.post_raw(
        0,
        [
            ctx_desc(14, 20, L4T["TCP"], idx=0),
            ctx_desc(14, 40, L4T["UDP"], ipv4=False, idx=1),
            data_desc(put(drv, partial(udp6)), len(udp6), TXSM, idx=1),
            data_desc(put(drv, partial(tcp4)), len(tcp4), TXSM, idx=0),
        ],
    )
    d.run_until_idle()
    assert sent(wire) == [udp6, tcp4]


def test_tx_without_offload_bits_frames_are_untouched() -> None:
    want = bytes(packet("v4", "tcp"))
    given = partial(want, spoil_ip=True)
    d, got = send_offloaded(given, 0)
    assert got == [padded(given)]
    assert d.counters()["tx_csum_offloaded"] == 0


# -- bad requests: the frame goes unchanged, counted; the queue goes on ----------------------


def _bad(given: bytes, popts: int, ctx: tuple[int, int, int] | None, idx: int = 0) -> Vnic:
    d, drv, wire = up()
    descs = [ctx] if ctx else []
    descs.append(data_desc(put(drv, given), len(given), popts, idx))
    drv.post_raw(0, descs)
    d.run_until_idle()
    assert sent(wire) == [padded(given)]  # sent, unchanged
    # and the queue still works: a good offloaded frame after it
    want = bytes(packet("v4", "udp"))
    good = data_desc(put(drv, partial(want)), len(want), TXSM)
    drv.post_raw(0, [ctx_desc(14, 20, L4T["UDP"]), good])
    wire.clear()
    d.run_until_idle()
    assert sent(wire) == [padded(want)]
    assert d.counters()["tx_csum_offloaded"] == 1
    return d


def test_tx_no_context_stored_at_idx_is_counted() -> None:
    given = partial(bytes(packet("v4", "tcp")))
    d = _bad(given, TXSM, None)  # no context descriptor ever
    assert d.counters()["tx_csum_bad_context"] == 1
    d = _bad(given, TXSM, ctx_desc(14, 20, L4T["TCP"], idx=0), idx=1)  # one, at another IDX
    assert d.counters()["tx_csum_bad_context"] == 1


@pytest.mark.parametrize("idx", [2, 7])
def test_tx_data_idx_out_of_range_is_counted(idx: int) -> None:
    given = partial(bytes(packet("v4", "tcp")))
    d = _bad(given, TXSM | IXSM, ctx_desc(14, 20, L4T["TCP"]), idx=idx)
    assert d.counters()["tx_csum_bad_context"] == 1


@pytest.mark.parametrize(
    "maclen, iplen, popts",
    [
        (14, 500, TXSM),  # the L4 header beyond the frame
        (14, 21, TXSM),  # the UDP checksum field's last byte beyond the frame
        (14, 500, IXSM),  # the IP header beyond the frame
        (127, 20, TXSM),  # MACLEN at its maximum, no checksum field left in a short frame
        (14, 12, IXSM),  # an IPv4 header shorter than 20 bytes
    ],
)
def test_tx_offsets_beyond_the_frame_are_counted(maclen: int, iplen: int, popts: int) -> None:
    given = partial(bytes(packet("v4", "udp", b"")), spoil_ip=True)  # 42 bytes
    d = _bad(given, popts, ctx_desc(maclen, iplen, L4T["UDP"]))
    assert d.counters()["tx_csum_bad_context"] == 1


def test_tx_ixsm_needs_an_ipv4_context() -> None:
    given = partial(bytes(packet("v4", "tcp")), spoil_ip=True)
    d = _bad(given, IXSM | TXSM, ctx_desc(14, 20, L4T["TCP"], ipv4=False))
    assert d.counters()["tx_csum_bad_context"] == 1


@pytest.mark.parametrize("l4t", [L4T["SCTP"], 3 << _CTX.field("TUCMD_L4T").lsb])
def test_tx_sctp_is_unsupported(l4t: int) -> None:
    given = partial(bytes(packet("v4", "udp")))
    d = _bad(given, TXSM | IXSM, ctx_desc(14, 20, l4t))
    c = d.counters()
    assert c["tx_csum_unsupported"] == 1 and c["tx_csum_bad_context"] == 0


def test_tx_context_idx_above_one_is_a_bad_descriptor() -> None:
    d, drv, wire = up()
    a = bytes(packet("v4", "udp", b"dropped"))
    b = bytes(packet("v4", "udp", b"sent"))
    drv.post_raw(
        0,
        [
            ctx_desc(14, 20, L4T["UDP"], idx=2),  # not stored: the packet it precedes drops
            data_desc(put(drv, partial(a)), len(a), 0),
            data_desc(put(drv, partial(b)), len(b), TXSM, idx=2),  # nothing at IDX 2
        ],
    )
    d.run_until_idle()
    c = d.counters()
    assert sent(wire) == [padded(partial(b))]
    assert c["tx_drop_bad_desc"] == 1 and c["tx_csum_bad_context"] == 1
    assert drv.tx_status(0, 2) & TX_DD  # the queue went on


def test_tx_queue_disable_forgets_contexts() -> None:
    d, drv, wire = up()
    want = bytes(packet("v4", "tcp"))
    n = len(want)
    drv.post_raw(0, [ctx_desc(14, 20, L4T["TCP"]), data_desc(put(drv, partial(want)), n, TXSM)])
    d.run_until_idle()
    assert sent(wire) == [want]
    drv.tx.clear()
    drv.wr(spec.TXDCTL.at(0), 0)
    drv.setup_tx(0, 64)  # enabled afresh: TDH = 0, no contexts
    drv.post_raw(0, [data_desc(put(drv, partial(want)), n, TXSM)])
    d.run_until_idle()
    assert sent(wire)[-1] == partial(want)
    assert d.counters()["tx_csum_bad_context"] == 1


# -------------------------------------------------------------------------------------------
# RX
# -------------------------------------------------------------------------------------------


def rx_status(frames: list[bytes], rxcsum: int = RXCSUM_ON, buf: int = 2048) -> list[int]:
    """Receive ``frames`` with RXCSUM = ``rxcsum``: the status word of each EOP descriptor.
    Frames shorter than 60 bytes arrive padded, as a sender's MAC pads them (else: runts)."""
    d, drv, _wire = up(buf=buf)
    drv.wr(spec.RXCSUM.at(), rxcsum)
    assert d.receive([padded(f) for f in frames]) == len(frames)
    out = []
    slot = 0
    while len(out) < len(frames):
        st = drv.rx_desc(0, slot)[3]
        assert st & RX_DD
        if st & RX_EOP:
            out.append(st)
        else:
            assert st & CSUM_BITS == 0  # the bits are on the last descriptor only
        slot += 1
    return out


GOOD = {
    ("v4", "tcp"): IPCS | L4CS,
    ("v4", "udp"): IPCS | L4CS | UDPCS,
    ("v6", "tcp"): L4CS,
    ("v6", "udp"): L4CS | UDPCS,
}


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: f"{len(p)}B")
def test_rx_good_frames_get_checked_bits_and_no_errors(payload: bytes) -> None:
    frames = [bytes(packet(ip, l4, payload)) for ip, l4 in KINDS]
    got = rx_status(frames)
    assert [st & CSUM_BITS for st in got] == [GOOD[k] for k in KINDS]


@pytest.mark.parametrize("l4", ["tcp", "udp"])
def test_rx_ipv4_options_move_the_l4_header(l4: str) -> None:
    good = bytes(packet("v4", l4, b"opts", options=b"\x01\x01\x01\x00" * 2))  # IHL 7
    bad = corrupt(good, len(good) - 1)
    got = rx_status([good, bad])
    assert [st & CSUM_BITS for st in got] == [GOOD["v4", l4], GOOD["v4", l4] | ERR_TCPE]


def corrupt(frame: bytes, at: int) -> bytes:
    out = bytearray(frame)
    out[at] ^= 0x01
    return bytes(out)


@pytest.mark.parametrize("ip, l4", KINDS)
def test_rx_corrupted_payload_byte_gets_tcpe(ip: str, l4: str) -> None:
    good = bytes(packet(ip, l4, b"payload bytes"))
    got = rx_status([corrupt(good, len(good) - 3)])[0]
    assert got & CSUM_BITS == GOOD[ip, l4] | ERR_TCPE


def test_rx_bad_ipv4_header_checksum_gets_ipe() -> None:
    good = bytes(packet("v4", "tcp"))
    bad = bytearray(good)
    bad[24:26] = b"\x12\x34"
    got = rx_status([bytes(bad)])[0]
    assert got & CSUM_BITS == IPCS | L4CS | ERR_IPE  # the TCP checksum does not cover it


def test_rx_without_rxcsum_nothing_is_reported() -> None:
    good = [bytes(packet(ip, l4)) for ip, l4 in KINDS]
    bad = [corrupt(f, len(f) - 1) for f in good] + [corrupt(good[0], 24)]
    for st in rx_status(good + bad, rxcsum=0):
        assert st == RX_DD | RX_EOP
    assert spec.RXCSUM.reset & RXCSUM_ON == 0  # and that is how the device starts


def test_rx_ipofl_and_tuofl_enable_their_own_checks() -> None:
    bad_ip = bytearray(bytes(packet("v4", "udp")))
    bad_ip[24] ^= 0xFF
    frames = [bytes(bad_ip), corrupt(bytes(packet("v4", "udp")), 50)]
    ip_only = rx_status(frames, spec.RXCSUM.mask("IPOFL"))
    assert [st & CSUM_BITS for st in ip_only] == [IPCS | ERR_IPE, IPCS]
    l4_only = rx_status(frames, spec.RXCSUM.mask("TUOFL"))
    assert [st & CSUM_BITS for st in l4_only] == [L4CS | UDPCS, L4CS | UDPCS | ERR_TCPE]


def test_rx_udp_without_checksum_and_fragments_are_not_checked() -> None:
    pkt = packet("v4", "udp", b"no checksum")
    pkt[UDP].chksum = 0
    frag = packet("v4", "tcp", b"first fragment", flags="MF")
    later = packet("v4", "udp", b"later fragment", frag=100)
    v6_zero = packet("v6", "udp", b"zero is invalid over IPv6")
    v6_zero[UDP].chksum = 0
    got = rx_status([bytes(pkt), bytes(frag), bytes(later), bytes(v6_zero)])
    assert [st & CSUM_BITS for st in got] == [IPCS, IPCS, IPCS, L4CS | UDPCS | ERR_TCPE]


def test_rx_ethernet_padding_is_not_summed() -> None:
    short = bytes(packet("v4", "udp", b"hi"))  # 44 bytes: padded to 60 on the wire
    padded = short + b"\xaa" * (60 - len(short))
    v6 = bytes(packet("v6", "tcp", b"")) + b"\x55" * 3
    got = rx_status([padded, v6])
    assert [st & CSUM_BITS for st in got] == [IPCS | L4CS | UDPCS, L4CS]


def test_rx_frames_not_ip_or_truncated_get_no_bits() -> None:
    arp = bytes(Ether(dst=PEER, src=MAC, type=0x0806) / Raw(bytes(46)))
    whole = bytes(packet("v4", "tcp", b"x" * 100))
    truncated = whole[:80]  # the IP total length points beyond the frame
    v6_ext = bytes(Ether(dst=PEER, src=MAC) / IPv6(**V6, nh=0) / Raw(bytes(40)))
    v4_says_6 = bytearray(bytes(packet("v4", "udp")))
    v4_says_6[14] = 0x65  # the EtherType says IPv4, the version 6
    v6_says_4 = bytearray(bytes(packet("v6", "udp")))
    v6_says_4[14] = 0x40
    frames = [arp, truncated, v6_ext, bytes(v4_says_6), bytes(v6_says_4)]
    got = rx_status(frames)
    assert [st & CSUM_BITS for st in got] == [0, IPCS, 0, 0, 0]


def test_rx_multi_descriptor_frame_has_the_bits_on_eop() -> None:
    big = bytes(packet("v4", "tcp", bytes(range(256)) * 5))  # 1334 bytes in 1 KiB buffers
    bad = corrupt(big, 1200)
    got = rx_status([big, bad], buf=1024)
    assert [st & CSUM_BITS for st in got] == [IPCS | L4CS, IPCS | L4CS | ERR_TCPE]


def test_rx_rss_path_reports_checksums() -> None:
    d, drv, _wire = up()
    drv.wr(spec.RXCSUM.at(), RXCSUM_ON)
    drv.wr(spec.MRQC.at(), spec.MRQC.mask("RSSEN"))  # RETA all 0: every frame to queue 0
    frames = [padded(bytes(packet("v4", "udp"))), corrupt(bytes(packet("v6", "tcp")), 80)]
    assert d.receive(frames) == 2
    got = [drv.rx_desc(0, slot)[3] & CSUM_BITS for slot in (0, 1)]
    assert got == [IPCS | L4CS | UDPCS, L4CS | ERR_TCPE]


def test_tx_offload_to_rx_check_back_to_back() -> None:
    a, da, _ = up()
    b, db, _ = up()
    a.transmit = b.receive
    db.wr(spec.RXCSUM.at(), RXCSUM_ON)
    frames = [bytes(packet(ip, l4, b"end to end")) for ip, l4 in KINDS]
    descs = []
    for f, (ip, _l4) in zip(frames, KINDS, strict=True):
        maclen, iplen, l4t, _at = layout(f)
        popts = TXSM | (IXSM if ip == "v4" else 0)
        descs.append(ctx_desc(maclen, iplen, l4t, ipv4=ip == "v4"))
        given = partial(f, spoil_ip=ip == "v4")
        descs.append(data_desc(put(da, given), len(f), popts))
    da.post_raw(0, descs)
    a.run_until_idle()
    got = [db.rx_desc(0, slot)[3] & CSUM_BITS for slot in range(4)]
    assert got == [GOOD[k] for k in KINDS]
    assert db.poll(0) == [padded(f) for f in frames]  # no error bits: else b""
    assert a.counters()["tx_csum_offloaded"] == 4
