"""Interrupts (spec §2.2, §4.4, §4.5): IVAR routing, EIMS/EIMC, EICR W1C, EIAC, EIAM, EITR."""

from __future__ import annotations

from tests.unit.model_fixtures import FakeClock, frame, up
from vnic.model import spec

LSC = spec.EICR.mask("LSC")


def test_msix_rx_and_tx_raise_their_vector_with_autoclear() -> None:
    clock = FakeClock()
    d, drv, _ = up(clock=clock)
    drv.enable_msix()
    d.receive([frame()])
    assert drv.irqs == [0]
    assert drv.rd(spec.EICR.at()) & 1 == 0  # EIAC cleared the cause when the message went
    assert drv.rd(spec.EIMS.at()) & 1 == 0  # EIAM (with GPIE.EIAME) masked the vector
    d.receive([frame()])
    assert drv.irqs == [0]  # masked: no second message
    assert drv.rd(spec.EICR.at()) & 1
    drv.wr(spec.EIMS.at(), 1)  # the driver re-enables after NAPI: the pending cause fires
    assert drv.irqs == [0, 0]
    drv.wr(spec.EIMS.at(), 1)  # re-enabled with no cause pending: nothing fires
    assert drv.irqs == [0, 0]
    drv.send(0, [frame()])
    d.run_until_idle()
    assert drv.irqs == [0, 0, 0]
    assert d.counters()["interrupts"] == 3


def test_ivar_routes_queues_to_vectors() -> None:
    d, drv, _ = up()
    drv.setup_rx(3, 16)
    drv.wr(spec.GPIE.at(), spec.GPIE.mask("MSIX_MODE"))
    # RX queue 3 -> vector 5: IVAR(1), bits 23:16
    drv.wr(spec.IVAR.at(1), (0x80 | 5) << 16)
    drv.wr(spec.EIMS.at(), 1 << 5)
    drv.wr(spec.MRQC.at(), spec.MRQC.mask("RSSEN"))
    for i in range(32):
        drv.wr(spec.RETA.at(i), 0x03030303)
    d.receive([frame()])
    assert drv.irqs == [5]
    # an entry without the valid bit raises nothing
    drv.wr(spec.IVAR.at(1), 5 << 16)
    d.receive([frame()])
    assert drv.irqs == [5]


def test_link_change_uses_ivar_misc() -> None:
    d, drv, _ = up()
    drv.enable_msix()
    d.set_link(False)
    assert drv.irqs == [spec.NUM_QUEUES]
    assert drv.rd(spec.EICR.at()) & LSC  # not auto-cleared (EIAC has queue bits only)
    drv.wr(spec.EICR.at(), LSC)  # write 1 to clear
    assert drv.rd(spec.EICR.at()) & LSC == 0


def test_eics_sets_causes_and_eimc_masks() -> None:
    _d, drv, _ = up()
    drv.enable_msix()
    drv.wr(spec.EIMC.at(), 0xFFFFFFFF)
    drv.wr(spec.EICS.at(), 1 << 2)
    assert drv.irqs == []
    assert drv.rd(spec.EICR.at()) & 4
    drv.wr(spec.EIMS.at(), 4)
    assert drv.irqs == [2]
    drv.wr(spec.EIMS_EX.at(0), 1 << 3)
    drv.wr(spec.EICS_EX.at(0), 1 << 3)
    assert drv.irqs == [2, 3]


def test_eitr_throttles_with_the_clock() -> None:
    clock = FakeClock()
    d, drv, _ = up(clock=clock)
    drv.enable_msix()
    drv.wr(spec.EIAM.at(), 0)  # no auto-mask: throttling alone limits the rate
    drv.wr(spec.EITR.at(0), 50 << 2)  # Linux encoding: 50 µs
    d.receive([frame()])
    assert drv.irqs == [0]
    clock.now += 10e-6
    d.receive([frame()])
    assert drv.irqs == [0]  # within 50 µs: deferred
    deadline = d.next_deadline()
    assert deadline is not None and abs(deadline - (100.0 + 50e-6)) < 1e-9
    d.service()
    assert drv.irqs == [0]
    clock.now = deadline
    d.service()
    assert drv.irqs == [0, 0]
    assert d.next_deadline() is None
    assert d.counters()["interrupts_deferred"] == 1


def test_deferred_interrupt_dropped_if_cause_cleared() -> None:
    clock = FakeClock()
    d, drv, _ = up(clock=clock)
    drv.enable_msix()
    drv.wr(spec.EIAM.at(), 0)
    drv.wr(spec.EIAC.at(), 0)
    drv.wr(spec.EITR.at(0), 100 << 2)
    d.receive([frame()])
    drv.wr(spec.EICR.at(), 1)
    d.receive([frame()])
    drv.wr(spec.EICR.at(), 1)  # the driver polled and cleared it meanwhile
    clock.now += 1
    d.service()
    assert drv.irqs == [0]


def test_legacy_mode_intx_level_and_read_to_clear() -> None:
    d, drv, _ = up()
    drv.wr(spec.IVAR.at(0), 0x80 | 0)  # RX queue 0 -> EICR bit 0
    drv.wr(spec.EIMS.at(), 1)
    assert not d.intx_level
    d.receive([frame()])
    assert drv.irqs == [0] and d.intx_level
    assert drv.rd(spec.EICR.at()) == 1
    assert not d.intx_level  # the read cleared EICR, the line drops
    assert drv.rd(spec.EICR.at()) == 0


def test_reset_masks_everything() -> None:
    _d, drv, _ = up()
    drv.enable_msix()
    drv.wr(spec.CTRL.at(), spec.CTRL.mask("RST"))
    assert drv.rd(spec.EIMS.at()) == 0 and drv.rd(spec.GPIE.at()) == 0
    assert drv.rd(spec.IVAR.at(0)) == 0
