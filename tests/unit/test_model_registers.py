"""Register rules: reset values, plain store, read-only, read-to-clear, aliases, lab block."""

from __future__ import annotations

import logging
import struct

import pytest

from tests.unit.model_fixtures import MAC, frame, make, up
from vnic.model import spec
from vnic.model.device import Vnic
from vnic.model.memory import FakeMemory
from vnic.model.testing import TXD_CMD


def dev() -> Vnic:
    return Vnic(FakeMemory(1 << 16), MAC)


def test_ready_bits_and_identity_after_reset() -> None:
    d = dev()
    assert d.read_register(spec.EEC.at(), 4) & spec.EEC.mask("ARD")
    assert d.read_register(spec.RDRXCTL.at(), 4) & spec.RDRXCTL.mask("DMAIDONE")
    d.write_register(spec.RDRXCTL.at(), 4, 0)
    assert d.read_register(spec.RDRXCTL.at(), 4) & spec.RDRXCTL.mask("DMAIDONE")
    assert d.read_register(spec.STATUS.at(), 4) & spec.STATUS.mask("LAN_ID") == 0
    links = d.read_register(spec.LINKS.at(), 4)
    assert links & spec.LINKS.mask("LINK_UP")
    assert links & spec.LINKS.field("SPEED").mask == spec.LINKS.field("SPEED").value("10G")
    assert d.read_register(spec.LAB_ID.at(), 4) == 0x524C4142
    assert d.read_register(spec.LAB_NCOUNTERS.at(), 4) == len(spec.LAB_COUNTERS)


@pytest.mark.parametrize("ral, rah", [(0x0A200, 0x0A204), (0x05400, 0x05404)])
def test_mac_preloaded_in_both_decodings(ral: int, rah: int) -> None:
    d = dev()
    lo, hi = d.read_register(ral, 4), d.read_register(rah, 4)
    assert lo.to_bytes(4, "little") + (hi & 0xFFFF).to_bytes(2, "little") == MAC
    assert hi & spec.RAH.mask("AV")


def test_alias_writes_are_one_register() -> None:
    d = dev()
    d.write_register(0x05400 + 8, 4, 0x11223344)
    assert d.read_register(spec.RAL.at(1), 4) == 0x11223344


def test_plain_store_and_narrow_and_wide_accesses() -> None:
    d = dev()
    off = spec.AUTOC.at()
    d.write_register(off, 4, 0x12345678)
    assert d.read_register(off, 4) == 0x12345678
    d.write_register(off + 1, 1, 0xAB)
    assert d.read_register(off, 4) == 0x1234AB78
    d.write_register(off + 2, 2, 0xCDEF)
    assert d.read_register(off, 4) == 0xCDEFAB78
    assert d.read_register(off + 2, 2) == 0xCDEF
    assert d.read_register(off + 3, 1) == 0xCD
    # 8 bytes = two registers (MTA 0 and 1)
    d.write_register(spec.MTA.at(0), 8, 0x1111111122222222)
    assert d.read_register(spec.MTA.at(1), 4) == 0x11111111
    assert d.read_register(spec.MTA.at(0), 8) == 0x1111111122222222


#: every rw register, first and last of an array
_RW = [
    (r, i) for r in spec.REGISTERS if r.access is spec.Access.RW for i in sorted({0, r.count - 1})
]


@pytest.mark.parametrize("value", [0x81808180, 0x01050105])
@pytest.mark.parametrize("reg, i", _RW, ids=[f"{r.name}({i})" for r, i in _RW])
def test_narrow_writes_merge_into_the_live_value(reg: spec.Register, i: int, value: int) -> None:
    """Two 16-bit or four 8-bit writes leave any rw register as one 32-bit write of the same
    value does, also those whose value lives outside the plain store (heads and tails, EITR,
    IVAR, IVAR_MISC, GPIE, EIAC, EIAM, EIAM_EX)."""
    off = reg.at(i)
    whole = dev()
    whole.write_register(off, 4, value)
    want = whole.read_register(off, 4)
    for size in (2, 1):
        d = dev()
        for at in range(0, 4, size):
            d.write_register(off + at, size, (value >> (8 * at)) & ((1 << (8 * size)) - 1))
        assert d.read_register(off, 4) == want, f"{reg.name}, {size}-byte writes"


def test_narrow_tail_write_is_a_doorbell_and_keeps_the_other_half() -> None:
    d, drv, wire = up()
    txq = drv.tx[0]
    for i in range(3):  # three descriptors written, no doorbell yet
        buf = txq.buf_base + i * txq.buf_size
        drv.poke(buf, frame(fill=i))
        drv.poke(txq.base + i * 16, struct.pack("<QII", buf, TXD_CMD | 64, 64 << 14))
    doorbells = d.counters()["doorbells"]
    d.write_register(spec.TDT.at(0), 2, 3)  # the doorbell, as a 16-bit store
    d.write_register(spec.TDT.at(0) + 2, 2, 0)  # the upper half: the tail stays 3
    assert d.read_register(spec.TDT.at(0), 4) == 3
    d.run_until_idle()
    assert [f for batch in wire for f in batch] == [frame(fill=i) for i in range(3)]
    assert d.counters()["doorbells"] == doorbells + 2
    # IVAR as two halves, the example of the bug report
    d.write_register(spec.IVAR.at(0), 2, 0x8180)
    d.write_register(spec.IVAR.at(0) + 2, 2, 0x8180)
    assert d.read_register(spec.IVAR.at(0), 4) == 0x81808180


def test_narrow_write_to_a_write_1_register_changes_only_its_bytes() -> None:
    d = dev()
    lsc, q0 = spec.EICR.mask("LSC"), 1
    d.write_register(spec.EICS.at(), 4, lsc | q0)
    d.write_register(spec.EICR.at(), 1, q0)  # clears queue bit 0, not LSC; EICR is not read
    assert d.read_register(spec.EICR.at(), 4) == lsc


def test_unknown_and_read_only_writes_are_counted_and_ignored() -> None:
    d = dev()
    before = d.counters()
    d.write_register(0x1FFFC, 4, 1)  # nothing there
    assert d.read_register(0x1FFFC, 4) == 0
    d.write_register(spec.STATUS.at(), 4, 0)
    assert d.read_register(spec.STATUS.at(), 4) == spec.STATUS.reset
    d.write_register(spec.GPRC.at(), 4, 5)
    d.write_register(0x40000, 4, 1)  # outside BAR0
    d.write_register(spec.AUTOC.at() + 1, 4, 1)  # misaligned
    after = d.counters()
    assert after["reg_write_ro"] == before["reg_write_ro"] + 2  # STATUS, GPRC
    assert after["reg_write_unknown"] == before["reg_write_unknown"] + 3
    assert after["reg_ignored"] == before["reg_ignored"]  # bad values only
    assert d.read_register(spec.AUTOC.at() + 1, 4) == 0


def test_read_only_and_unknown_writes_are_two_events(caplog: pytest.LogCaptureFixture) -> None:
    """As in QEMU's models: a write to a read-only register is not a write to no register."""
    d = dev()
    before = d.counters()
    with caplog.at_level(logging.DEBUG, logger="vnic.model.device"):
        d.write_register(spec.STATUS.at(), 4, 0)  # read-only
        d.write_register(spec.STATUS.at() + 1, 1, 0)  # read-only, one byte of it
        d.write_register(0x1FFFC, 4, 1)  # nothing there
    after = d.counters()
    assert after["reg_write_ro"] - before["reg_write_ro"] == 2
    assert after["reg_write_unknown"] - before["reg_write_unknown"] == 1
    events = [r.getMessage().split()[1] for r in caplog.records]
    assert events == ["reg_write_ro", "reg_write_ro", "reg_write_unknown"]
    assert "STATUS(0)" in caplog.records[0].getMessage()
    assert "0x1FFFC" in caplog.records[2].getMessage()


def test_every_decoded_offset_has_handlers() -> None:
    d = dev()
    for off in spec.decode_map():
        d.read_register(off, 4)
    for off in spec.decode_map():
        if off not in (spec.CTRL.at(), spec.LABCTL.at()):
            d.write_register(off, 4, 0)


@pytest.mark.parametrize("bits", [("RST",), ("LNK_RST",), ("RST", "LNK_RST")])
def test_ctrl_rst_and_lnk_rst_each_reset_the_device(bits: tuple[str, ...]) -> None:
    """On the 82599 both are a reset of the whole device (LNK_RST also restarts the link):
    ixgbe uses LNK_RST alone as its global reset when the link is down."""
    d, drv, _ = up()
    drv.wr(spec.AUTOC.at(), 0x1234)
    drv.wr(spec.EIMS.at(), 0xFF)
    drv.wr(spec.CTRL.at(), spec.CTRL.mask(*bits))
    assert drv.rd(spec.CTRL.at()) & spec.CTRL.mask("RST", "LNK_RST") == 0
    assert drv.rd(spec.TXDCTL.at(0)) & spec.TXDCTL.mask("ENABLE") == 0
    assert drv.rd(spec.RXDCTL.at(0)) & spec.RXDCTL.mask("ENABLE") == 0
    assert drv.rd(spec.TDLEN.at(0)) == 0 and drv.rd(spec.RDLEN.at(0)) == 0
    assert not d.tx[0].enabled and not d.rx[0].enabled
    assert drv.rd(spec.AUTOC.at()) == spec.AUTOC.reset and drv.rd(spec.EIMS.at()) == 0
    assert drv.rd(spec.RXCTRL.at()) == 0 and drv.rd(spec.DMATXCTL.at()) == spec.DMATXCTL.reset
    # the link is back at once, and no LSC: the reset cleared EICR, LINKS reads as before
    assert drv.rd(spec.LINKS.at()) & spec.LINKS.mask("LINK_UP")
    assert drv.rd(spec.EICR.at()) == 0
    assert d.receive([frame()]) == 0  # RX off after the reset


def test_ctrl_rst_self_clears_and_resets_state_but_not_lab_counters() -> None:
    d = dev()
    d.write_register(spec.AUTOC.at(), 4, 0x1234)
    d.write_register(spec.EIMS.at(), 4, 0xFF)
    d.write_register(spec.CTRL.at(), 4, spec.CTRL.mask("RST", "LNK_RST"))
    assert d.read_register(spec.CTRL.at(), 4) & spec.CTRL.mask("RST", "LNK_RST") == 0
    assert d.read_register(spec.AUTOC.at(), 4) == spec.AUTOC.reset
    assert d.read_register(spec.EIMS.at(), 4) == 0
    assert d.counters()["reg_writes"] == 3
    assert d.counters()["resets"] == 1  # a driver's reset is visible to the grader


def test_only_writes_with_a_reset_bit_count_as_resets() -> None:
    d = dev()
    d.write_register(spec.CTRL.at(), 4, spec.CTRL.mask("GIO_DIS"))
    assert d.counters()["resets"] == 0
    d.write_register(spec.CTRL.at(), 4, spec.CTRL.mask("LNK_RST"))
    d.write_register(spec.CTRL.at(), 4, spec.CTRL.mask("RST"))
    assert d.counters()["resets"] == 2


def test_ring_base_low_bits_read_zero() -> None:
    d = dev()
    d.write_register(spec.RDBAL.at(2), 4, 0x12345FFF)
    assert d.read_register(spec.RDBAL.at(2), 4) == 0x12345F80
    d.write_register(spec.TDBAL.at(3), 4, 0xFFFFFFFF)
    assert d.read_register(spec.TDBAL.at(3), 4) == 0xFFFFFF80


def test_statistics_read_to_clear() -> None:
    d, drv, _wire = up()
    frames = [frame(100), frame(60, dst=b"\xff" * 6), frame(70, dst=b"\x01\0^\0\0\1")]
    assert d.receive(frames) == 3
    drv.send(0, [frame(80, dst=b"\xff" * 6)])
    d.run_until_idle()
    r = drv.rd
    assert r(spec.GPRC.at()) == 3
    assert r(spec.GPRC.at()) == 0
    assert r(spec.BPRC.at()) == 1 and r(spec.MPRC.at()) == 1
    assert r(spec.TPR.at()) == 3
    assert r(spec.GORCL.at()) == 230 and r(spec.GORCH.at()) == 0
    assert r(spec.GORCL.at()) == 0
    assert r(spec.QPRC.at(0)) == 3 and r(spec.QBRC_L.at(0)) == 230
    assert r(spec.GPTC.at()) == 1 and r(spec.GOTCL.at()) == 80 and r(spec.BPTC.at()) == 1
    assert r(spec.QPTC.at(0)) == 1 and r(spec.QBTC_L.at(0)) == 80
    assert r(spec.CRCERRS.at()) == 0


def test_missed_packets_and_length_errors_counted() -> None:
    d, drv, _ = up(count=8)
    d.receive([frame()] * 10)  # 7 slots armed
    assert drv.rd(spec.MPC.at(0)) == 3
    d.receive([b"\0" * 10, frame(2000)])
    assert drv.rd(spec.RUC.at()) == 1 and drv.rd(spec.ROC.at()) == 1
    assert drv.rd(spec.RLEC.at()) == 2
    c = d.counters()
    assert c["rx_drop_no_desc"] == 3 and c["rx_drop_runt"] == 1 and c["rx_drop_giant"] == 1


def test_lab_counters_readable_as_lo_hi_pairs() -> None:
    d, drv, _ = up()
    d.lab["dma_read_bytes"] = (7 << 32) | 5
    i = spec.LAB_COUNTER_INDEX["dma_read_bytes"]
    assert drv.rd(spec.LABC_LO.at(i)) == 5
    d.lab["dma_read_bytes"] += 1 << 32  # changes after LO was read do not tear the pair
    assert drv.rd(spec.LABC_HI.at(i)) == 7
    j = spec.LAB_COUNTER_INDEX["doorbells"]
    assert drv.rd(spec.LABC_LO.at(j)) == d.lab["doorbells"] > 0


def test_labctl_link_down_and_clear_counters() -> None:
    d, drv, _ = up()
    drv.wr(spec.LABCTL.at(), spec.LABCTL.mask("LINK_DOWN"))
    assert drv.rd(spec.LINKS.at()) & spec.LINKS.mask("LINK_UP") == 0
    assert drv.rd(spec.EICR.at()) & spec.EICR.mask("LSC")
    assert d.receive([frame()]) == 0
    drv.wr(spec.LABCTL.at(), spec.LABCTL.mask("CLEAR_COUNTERS"))
    assert d.counters()["rx_drop_disabled"] == 0
    assert drv.rd(spec.LINKS.at()) & spec.LINKS.mask("LINK_UP")
    assert drv.rd(spec.LABCTL.at()) == 0


def test_set_link_raises_lsc_and_drops() -> None:
    d, drv, wire = up()
    d.set_link(False)
    assert drv.rd(spec.LINKS.at()) == 0
    assert d.receive([frame()]) == 0
    drv.send(0, [frame()])
    d.run_until_idle()
    assert wire == [] and d.counters()["tx_drop_link"] == 1
    assert drv.reclaim(0) == 1  # descriptors still complete
    d.set_link(True)
    assert drv.rd(spec.LINKS.at()) & spec.LINKS.mask("LINK_UP")


def test_make_brings_device_up() -> None:
    _d, drv, _ = make()
    assert drv.rd(spec.RXCTRL.at()) & spec.RXCTRL.mask("RXEN")
    assert drv.rd(spec.DMATXCTL.at()) & spec.DMATXCTL.mask("TE")
