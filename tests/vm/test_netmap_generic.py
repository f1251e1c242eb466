"""netmap's generic adapter: the same API on interfaces whose driver has no native adapter.

One lab per NIC, two guests on QEMU's igb or virtio-net (the anchors), each with its stock
Linux driver and netmap.ko; netmap.ko opens their interfaces through the generic adapter
(nm_generic.c: an rx_handler catches the frames, TX goes to the driver as one skb per
slot). Frames are judged on the receiving side — the peer's nmgen checks every sequence
number of this run's nonce, or the peer's kernel receives them — and every test leaves the
interface back in the kernel's hands. The module's teardown checks both kernel logs.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Iterator

import pytest

from lab.figures import interface
from lab.provision import Platform
from lab.runs import RunDir
from lab.topology import wired
from lab.vm import Lab, Vm
from tests.vm.helpers import assert_kernel_quiet, last_json, ok, wait
from tests.vm.test_netmap import GUEST, _background, _finished, _netmap_state, _wait_for

GENERIC_NICS = ["igb", "virtio-net-pci"]


@pytest.fixture(scope="module", params=GENERIC_NICS)
def pair(request: pytest.FixtureRequest, platform: Platform) -> Iterator[Lab]:
    nic = request.param
    run = RunDir.new(f"test-netmap-generic-{nic}")
    topology = wired(["a", "b"], run, modules=["netmap"], nic=nic)
    with Lab(topology, platform) as lab:
        lab.start()
        lab.check()
        yield lab
        for name in ("a", "b"):
            assert_kernel_quiet(lab[name])


def _generic(vm: Vm) -> dict[str, str]:
    """The generic adapter's counters of the guest's interface (/proc/net/netmap)."""
    return _netmap_state(vm)[f"generic {interface(vm)}"]


def _released(vm: Vm) -> None:
    """No program holds the port, the region is free and the stack has the interface."""
    state = _netmap_state(vm)
    port = state[f"port {interface(vm)}"]
    assert port["active"] == "0" and port["users"] == "0", port
    assert state["region"] == {"users": "0"}, state["region"]


def _start_receiver(vm: Vm, cmd: str, out: str) -> None:
    _background(vm, cmd, out)
    wait(
        lambda: _netmap_state(vm).get(f"port {interface(vm)}", {}).get("active") == "1",
        30,
        f"{cmd!r} to register its port",
    )


def test_an_interface_without_a_native_adapter_opens_generic(pair: Lab) -> None:
    a = pair["a"]
    eth = interface(a)
    out = last_json(ok(a, f"nmgen tx -i netmap:{eth} -n 10", 60))
    assert out["packets"] == 10, out
    assert re.search(rf"netmap: {eth}: generic adapter", a.kernel_log())
    assert _generic(a)["tx_inflight"] == "0"  # every skb came back from the driver
    _released(a)


def test_tx_and_rx_with_poll_verify_every_sequence_number(pair: Lab) -> None:
    a, b = pair["a"], pair["b"]
    count = 3000
    _start_receiver(b, f"nmgen rx -i netmap:{interface(b)} -n {count} -d 60", "/tmp/rx.json")
    sent = last_json(ok(a, f"nmgen tx -i netmap:{interface(a)} -n {count} -b 64 -r 5000", 120))
    got = _finished(b, "/tmp/rx.json")
    assert sent["packets"] == count, sent
    assert got["packets"] == count, (got, _generic(b))
    assert got["lost"] == 0 and got["out_of_order"] == 0 and got["duplicates"] == 0, got
    _released(a)
    _released(b)


def test_tx_reaches_the_peer_kernel(pair: Lab) -> None:
    """nmgen on a's generic port; b's kernel (no netmap there) receives every frame."""
    a, b = pair["a"], pair["b"]
    count = 2000
    _background(b, f"python3 {GUEST}/packet_sink.py {interface(b)} {count}", "/tmp/sink.json")
    _wait_for(b, "/tmp/sink.json", "listening")
    out = last_json(ok(a, f"nmgen tx -i netmap:{interface(a)} -n {count} -b 32 -r 5000", 120))
    got = _finished(b, "/tmp/sink.json")
    assert out["packets"] == count, out
    assert got["unique"] == got["received"] == count and got["lost"] == 0, got
    _released(a)


def test_closing_gives_the_interface_back_to_the_kernel(pair: Lab) -> None:
    a, b = pair["a"], pair["b"]
    ok(a, f"nmgen tx -i netmap:{interface(a)} -n 10")
    _released(a)
    peer = b.spec.address or ""
    assert a.run(f"ping -c2 -W3 {peer}", timeout=30).status == 0  # the rx_handler is gone


def test_host_rings_are_refused_on_a_generic_port(pair: Lab) -> None:
    a = pair["a"]
    eth = interface(a)
    script = (
        "import json; from vnic.netmap import Port\n"
        "out = {}\n"
        "for suffix in ('^', '*'):\n"
        "    try:\n"
        f"        Port.open('netmap:{eth}' + suffix).close(); out[suffix] = 0\n"
        "    except OSError as e:\n"
        "        out[suffix] = e.errno\n"
        "print(json.dumps(out))\n"
    )
    got = last_json(ok(a, f'python3 -c "{script}"'))
    assert got == {"^": errno.EOPNOTSUPP, "*": errno.EOPNOTSUPP}, got  # ENOTSUP on Linux
    _released(a)


def test_hostile_programs_get_errors_not_oopses(pair: Lab) -> None:
    """Random requests, indices, lengths and offsets on a generic port; then it still works."""
    a, b = pair["a"], pair["b"]
    eth = interface(a)
    out = last_json(ok(a, f"python3 {GUEST}/netmap_fuzz.py --seed 11 --operations 3000 {eth}", 600))
    assert out["counts"]["txsync"] + out["counts"]["rxsync"] > 300, out
    assert out["errnos"].get("EINVAL", 0) > 0, out
    assert_kernel_quiet(a)
    _released(a)
    peer = b.spec.address or ""
    assert a.run(f"ping -c2 -W3 {peer}", timeout=30).status == 0
