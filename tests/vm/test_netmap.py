"""The netmap path: netmap.ko and vnic.ko's native adapter in two real guests.

One lab for the module: guests a and b on one link, vnic.ko (which loads netmap.ko).
What a frame went through is judged from the host (the fabric's device counters) and
from the receiving side, never only from what the sender says. Every test leaves the
interfaces back in the kernel's hands; the module's teardown checks both kernel logs.
"""

from __future__ import annotations

import errno
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from lab.figures import device_counters, interface
from lab.provision import Platform
from lab.runs import RunDir
from lab.topology import wired
from lab.vm import Lab, Vm
from tests.vm.helpers import assert_kernel_quiet, last_json, ok, wait, wait_addressed

IP = {"a": "198.18.0.1", "b": "198.18.0.2"}
MAC = {"a": "02:72:6c:00:00:01", "b": "02:72:6c:00:00:02"}
GUEST = "/mnt/project/tests/vm/guest"


@pytest.fixture(scope="module")
def pair(platform: Platform) -> Iterator[Lab]:
    topology = wired(["a", "b"], RunDir.new("test-netmap"), modules=["vnic"])
    with Lab(topology, platform) as lab:
        lab.start()
        yield lab
        for name in ("a", "b"):
            assert_kernel_quiet(lab[name])


def _netmap_state(vm: Vm) -> dict[str, dict[str, str]]:
    """/proc/net/netmap as {"port eth0": {...}, "ring eth0 tx0": {...}}."""
    state = {}
    for line in ok(vm, "cat /proc/net/netmap").splitlines():
        words = line.split()
        keys = [w for w in words if "=" not in w]
        state[" ".join(keys)] = dict(w.split("=", 1) for w in words if "=" in w)
    return state


def _port(vm: Vm) -> dict[str, int]:
    """netmap.ko's counters of the guest's port (they survive the port's release)."""
    return {k: int(v) for k, v in _netmap_state(vm)[f"port {interface(vm)}"].items()}


def _released(vm: Vm) -> None:
    """No program holds the port any more and the NIC is the kernel's again."""
    state = _netmap_state(vm)
    port = state[f"port {interface(vm)}"]
    assert port["active"] == "0" and port["users"] == "0", port
    assert state["region"] == {"users": "0"}, state["region"]  # every buffer given back


def _background(vm: Vm, cmd: str, out: str) -> None:
    ok(vm, f"{cmd} > {out} 2>&1 &")


def _finished(vm: Vm, out: str, timeout: float = 90) -> dict[str, Any]:
    """The JSON line a background tool printed when it ended."""
    deadline = time.monotonic() + timeout
    while True:
        text = vm.run(f"cat {out}").output
        if any(ln.startswith("{") for ln in text.splitlines()):
            return last_json(text)
        assert time.monotonic() < deadline, f"{vm.spec.name}: no result in {out}:\n{text}"
        time.sleep(0.5)


def _wait_for(vm: Vm, out: str, word: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while word not in (text := vm.run(f"cat {out}").output):
        assert time.monotonic() < deadline, f"{vm.spec.name}: no {word!r} in {out}:\n{text}"
        time.sleep(0.3)


def _start_receiver(vm: Vm, cmd: str, out: str) -> None:
    """Start a netmap program in the background once the port is free (one that has just
    printed its result may not have exited yet), and return when it holds the port."""
    wait(lambda: _port(vm)["users"] == 0, 30, "the last program to let go of the port")
    _background(vm, cmd, out)
    wait(lambda: _port(vm)["active"] == 1, 30, f"{cmd!r} to register its port")


# ---------------------------------------------------------------------------------------------


def test_the_module_is_loaded_and_the_port_is_known(pair: Lab) -> None:
    a = pair["a"]
    assert ok(a, "test -c /dev/netmap && echo yes").strip() == "yes"
    assert "netmap" in ok(a, "cat /sys/module/vnic/refcnt; lsmod")
    _released(a)


def test_tx_every_frame_reaches_the_peer_kernel(pair: Lab) -> None:
    """nmgen in a transmits; b's kernel (no netmap there) receives every frame intact."""
    a, b = pair["a"], pair["b"]
    count = 3000
    _background(b, f"python3 {GUEST}/packet_sink.py {interface(b)} {count}", "/tmp/sink.json")
    _wait_for(b, "/tmp/sink.json", "listening")
    before, syncs = device_counters(pair), _port(a)["txsyncs"]
    out = last_json(ok(a, f"nmgen tx -i netmap:{interface(a)} -n {count} -b 32 -r 5000", 120))
    after, syncs = device_counters(pair), _port(a)["txsyncs"] - syncs
    got = _finished(b, "/tmp/sink.json")
    assert out["packets"] == count, out
    assert got["unique"] == got["received"] == count and got["lost"] == 0, got
    assert got["nonces"] == 1, got
    # on the wire: our frames, and perhaps a few of the stack's once the port was closed
    sent = after["a"]["tx_frames"] - before["a"]["tx_frames"]
    assert count <= sent <= count + 10, sent
    # one TX doorbell per sync at most (netmap.ko counts the syncs), and syncs are batches;
    # besides: one per frame of the stack's, three tail writes per queue pair at each of the
    # two restarts (into netmap mode and back: TDT = 0, RDT = 0, the RX fill), and at most
    # one RX refill per frame a received
    doorbells = after["a"]["doorbells"] - before["a"]["doorbells"]
    received = after["a"]["rx_frames"] - before["a"]["rx_frames"]
    restarts = 2 * 2 * 3
    assert doorbells <= syncs + (sent - count) + restarts + received, (doorbells, syncs)
    _released(a)


def test_a_batch_of_slots_is_one_doorbell(pair: Lab) -> None:
    """1024 frames in batches of 256 without a rate limit: five doorbells for the frames (a
    ring of 512 has 511 free slots, so one batch is cut short and its last slot goes in a
    sync of its own; the drain's syncs find nothing new and ring none), besides the
    restarts' tail writes."""
    a = pair["a"]
    before = device_counters(pair)["a"]
    out = last_json(ok(a, f"nmgen tx -i netmap:{interface(a)} -n 1024 -b 256", 120))
    after = device_counters(pair)["a"]
    assert out["packets"] == 1024, out
    sent = after["tx_frames"] - before["tx_frames"]
    received = after["rx_frames"] - before["rx_frames"]
    doorbells = after["doorbells"] - before["doorbells"]
    assert doorbells <= 1024 // 256 + 1 + (sent - 1024) + 2 * 2 * 3 + received, (doorbells, out)
    _released(a)


def test_rx_with_poll_verifies_every_sequence_number(pair: Lab) -> None:
    a, b = pair["a"], pair["b"]
    count = 4000
    _start_receiver(b, f"nmgen rx -i netmap:{interface(b)} -n {count} -d 60", "/tmp/rx.json")
    before = device_counters(pair)
    sent = last_json(ok(a, f"nmgen tx -i netmap:{interface(a)} -n {count} -b 64 -r 20000", 120))
    got = _finished(b, "/tmp/rx.json")
    after = device_counters(pair)
    assert sent["packets"] == count
    assert got["packets"] == count, got
    assert got["lost"] == 0 and got["out_of_order"] == 0 and got["duplicates"] == 0, got
    assert after["b"]["rx_frames"] - before["b"]["rx_frames"] == count
    assert after["b"]["interrupts"] > before["b"]["interrupts"]  # poll() slept and woke
    _released(b)


def test_ping_pong_measures_round_trips(pair: Lab) -> None:
    a, b = pair["a"], pair["b"]
    _start_receiver(b, f"nmgen pong -i netmap:{interface(b)} -d 60", "/tmp/pong.json")
    ping = last_json(ok(a, f"nmgen ping -i netmap:{interface(a)} -n 200", 120))
    ok(b, "pkill -INT nmgen")
    pong = _finished(b, "/tmp/pong.json")
    assert ping["packets"] == 200, ping
    assert 0 < ping["rtt_us_p50"] <= ping["rtt_us_p99"], ping
    assert pong["packets"] >= 200, pong
    _released(b)


def test_a_program_written_against_the_documented_api_runs(pair: Lab) -> None:
    a, b = pair["a"], pair["b"]
    count = 500
    _start_receiver(b, f"nmgen rx -i netmap:{interface(b)} -n {count} -d 60", "/tmp/rx-doc.json")
    ok(a, f"nm_docapi tx netmap:{interface(a)} {count}", 120)
    got = _finished(b, "/tmp/rx-doc.json")
    # nmgen reads the sequence numbers: every frame once, none lost, in order
    assert got["packets"] == count and got["lost"] == 0, got
    assert got["out_of_order"] == got["duplicates"] == 0, got
    _released(a)


def test_closing_gives_the_interface_back_to_the_kernel(pair: Lab) -> None:
    a = pair["a"]
    ok(a, f"nmgen tx -i netmap:{interface(a)} -n 10")
    _released(a)
    assert a.run(f"ping -c2 -W3 {IP['b']}", timeout=30).status == 0


def test_unloading_is_refused_while_a_port_is_open(pair: Lab) -> None:
    b = pair["b"]
    _start_receiver(b, f"nmgen rx -i netmap:{interface(b)} -d 30", "/tmp/hold.json")
    try:
        assert b.run("rmmod vnic").status != 0
        assert b.run("rmmod netmap").status != 0
        assert interface(b)  # still there
    finally:
        ok(b, "pkill -INT nmgen")
    _finished(b, "/tmp/hold.json")
    _released(b)


def test_hostile_programs_get_errors_not_oopses(pair: Lab) -> None:
    """10,000 random requests, indices, lengths and offsets; then the path still works."""
    a = pair["a"]
    eth = interface(a)
    out = last_json(ok(a, f"python3 {GUEST}/netmap_fuzz.py --seed 7 --operations 10000 {eth}", 600))
    assert out["counts"]["txsync"] + out["counts"]["rxsync"] > 1000, out
    assert out["errnos"].get("EINVAL", 0) > 0, out  # bad rings were refused
    assert_kernel_quiet(a)
    assert re.search(r"netmap: .*bad head", a.kernel_log()), "bad rings leave no trace in the log"
    _released(a)
    assert a.run(f"ping -c2 -W3 {IP['b']}", timeout=30).status == 0


def _checks(vm: Vm, args: str, timeout: float = 120) -> dict[str, Any]:
    return last_json(ok(vm, f"python3 {GUEST}/netmap_checks.py {args}", timeout))


def test_register_in_every_mode_binds_the_right_rings(pair: Lab) -> None:
    a = pair["a"]
    got = _checks(a, f"modes {interface(a)}")
    bound = got["bound"]
    assert bound["all"]["tx"] == ["0", "1"] and bound["all"]["rx"] == ["0", "1"], bound
    assert bound["-1"]["tx"] == ["1"] and bound["-1"]["rx"] == ["1"], bound
    assert bound["^"]["tx"] == ["^2"] and bound["^"]["rx"] == ["^2"], bound
    assert bound["*"]["tx"] == ["0", "1", "^2"], bound
    assert bound["/T"]["rx"] == [] and bound["/R"]["tx"] == [], bound
    assert bound["-1/T"] == {**bound["-1"], "rx": []}, bound
    # the reply carries the port's rings, not the ones bound (spec 11)
    assert all(b["rings"] == [2, 2] for b in bound.values()), bound
    assert got["errors"] == {
        f"netmap:{interface(a)}-7": "EINVAL",
        "netmap:nosuch0": "ENXIO",
        "netmap:lo": "ok",  # no native adapter: the generic one (test_netmap_generic.py)
        "exclusive": "EBUSY",
    }
    _released(a)


def test_admode_chooses_native_generic_or_refusal(pair: Lab) -> None:
    """netmap.ko's admode: 1 refuses an interface without a native adapter; 2 opens even
    the vNIC through the generic adapter, whose frames b's kernel receives all the same."""
    a, b = pair["a"], pair["b"]
    eth = interface(a)
    admode = "/sys/module/netmap/parameters/admode"
    opens_lo = (
        'python3 -c "from vnic.netmap import Port\n'
        "try:\n    Port.open('netmap:lo').close(); print('ok')\n"
        'except OSError as e:\n    print(e.errno)"'
    )
    try:
        ok(a, f"echo 1 > {admode}")
        assert ok(a, opens_lo).strip() == str(errno.EOPNOTSUPP)
        ok(a, f"echo 2 > {admode}")
        count = 500
        _background(b, f"python3 {GUEST}/packet_sink.py {interface(b)} {count}", "/tmp/gsink.json")
        _wait_for(b, "/tmp/gsink.json", "listening")
        out = last_json(ok(a, f"nmgen tx -i netmap:{eth} -n {count} -r 5000", 120))
        got = _finished(b, "/tmp/gsink.json")
        assert out["packets"] == count and got["unique"] == count, (out, got)
        assert f"generic {eth}" in ok(a, "cat /proc/net/netmap")
        assert re.search(rf"netmap: {eth}: generic adapter", a.kernel_log())
    finally:
        ok(a, f"echo 0 > {admode}")
    _released(a)


def _icmp_in_echos(vm: Vm) -> int:
    """The stack's count of ICMP echo requests received (/proc/net/snmp)."""
    names, values = (ln.split() for ln in ok(vm, "grep ^Icmp: /proc/net/snmp").splitlines())
    return int(values[names.index("InEchos")])


def test_host_rings_carry_frames_both_ways(pair: Lab) -> None:
    """An echo request on the host TX ring enters a's stack; its reply leaves on host RX."""
    a = pair["a"]
    eth = interface(a)
    ok(a, f"ip neigh replace 198.18.0.99 lladdr 02:72:6c:00:00:99 dev {eth}")
    try:
        echos = _icmp_in_echos(a)
        got = _checks(a, f"host {eth} {IP['a']}")
        assert _icmp_in_echos(a) == echos + 1  # the stack took the request as received
    finally:
        ok(a, f"ip neigh del 198.18.0.99 dev {eth}")
    assert got["sent"] == 1 and got["reply"], got  # and its reply came to the program
    assert got["reply_id"] == 0x7C01, got
    _released(a)
    assert a.run(f"ping -c1 -W3 {IP['b']}", timeout=30).status == 0


def test_python_bindings_and_nmgen_agree(pair: Lab) -> None:
    """Python sends, C receives; C sends, Python receives: the same frames, counted alike."""
    b = pair["b"]
    count = 2000
    # the Python sender has no rate limit: b's RX rings hold the whole burst, whatever b's
    # receiver gets of the CPU
    ok(b, f"ethtool -G {interface(b)} rx 4096")
    try:
        _bindings_against_nmgen(pair, count)
    finally:
        ok(b, f"ethtool -G {interface(b)} rx 512")
        ok(b, f"ip link set {interface(b)} up")


def _bindings_against_nmgen(pair: Lab, count: int) -> None:
    a, b = pair["a"], pair["b"]
    _start_receiver(b, f"nmgen rx -i netmap:{interface(b)} -n {count} -d 60", "/tmp/rx-py.json")
    sent = last_json(
        ok(a, f"python3 -m vnic.netmap.blast tx netmap:{interface(a)}-0 --count {count}", 120)
    )
    got = _finished(b, "/tmp/rx-py.json")
    assert sent["packets"] == count, sent
    assert got["packets"] == count and got["lost"] == 0 and got["out_of_order"] == 0, got
    _released(b)

    blast_rx = (
        f"python3 -m vnic.netmap.blast rx netmap:{interface(b)} --expect {count} --seconds 60"
    )
    _start_receiver(b, blast_rx, "/tmp/py-rx.json")
    ok(a, f"nmgen tx -i netmap:{interface(a)} -n {count} -r 10000", 120)
    got = _finished(b, "/tmp/py-rx.json")
    assert got["packets"] == count and got["lost"] == 0 and got["duplicates"] == 0, got
    _released(b)


def test_racing_threads_munmap_and_close_during_poll_are_safe(pair: Lab) -> None:
    a = pair["a"]
    got = _checks(a, f"races {interface(a)}")
    assert got["sync_errors"] == [], got  # a busy ring is skipped, not an error
    assert got["syncs_after_munmap"], got  # the port is still bound until close
    assert got["poll_returned_after_s"] is not None and got["poll_returned_after_s"] < 5, got
    _released(a)


def test_a_device_reset_under_netmap_keeps_the_port_working(pair: Lab) -> None:
    """The lab resets b's device while nmgen rx has b's port: vnic.ko rebuilds the NIC
    rings from netmap's krings, and frames sent after the reset still arrive."""
    a, b = pair["a"], pair["b"]
    assert pair.fabric is not None
    _start_receiver(b, f"nmgen rx -i netmap:{interface(b)} -d 40", "/tmp/rx-reset.json")
    ok(a, f"nmgen tx -i netmap:{interface(a)} -n 500 -r 5000", 60)
    assert pair.fabric.request({"cmd": "reset", "port": "b"})["ok"]
    deadline = time.monotonic() + 30
    while "reinitialising" not in b.run("dmesg | tail -20").output:
        assert time.monotonic() < deadline, "b's driver never noticed the reset"
        time.sleep(0.5)
    time.sleep(1)
    before = _port(b)["rxslots"]
    ok(a, f"nmgen tx -i netmap:{interface(a)} -n 500 -r 5000", 60)
    deadline = time.monotonic() + 20
    while _port(b)["rxslots"] - before < 500:
        assert time.monotonic() < deadline, f"after the reset b got {_port(b)['rxslots'] - before}"
        time.sleep(0.5)
    ok(b, "pkill -INT nmgen")
    _finished(b, "/tmp/rx-reset.json")
    _released(b)
    assert b.run(f"ping -c2 -W3 {IP['a']}", timeout=30).status == 0


def test_unbinding_the_driver_under_an_open_port_is_handled(pair: Lab) -> None:
    """The PCI device leaves vnic.ko while nmgen has the port: netmap.ko detaches the port,
    the program's syncs fail instead of touching a device that is gone, nothing leaks."""
    b = pair["b"]
    eth = interface(b)
    pci = ok(b, f"basename $(readlink /sys/class/net/{eth}/device)").strip()
    _start_receiver(b, f"nmgen rx -i netmap:{eth} -d 60", "/tmp/rx-unbind.json")
    ok(b, f"echo {pci} > /sys/bus/pci/drivers/vnic/unbind")
    deadline = time.monotonic() + 30
    while b.run("pgrep -x nmgen").status == 0:  # nmgen ends: its port is gone
        assert time.monotonic() < deadline, "nmgen still runs on a port that is gone"
        time.sleep(0.5)
    assert "the kernel reports an error" in ok(b, "cat /tmp/rx-unbind.json")
    assert f"port {eth}" not in ok(b, "cat /proc/net/netmap")
    ok(b, f"echo {pci} > /sys/bus/pci/drivers/vnic/bind")
    deadline = time.monotonic() + 10
    while b.run(f"grep -l {MAC['b']} /sys/class/net/*/address").status != 0:
        assert time.monotonic() < deadline, "the interface did not come back"
        time.sleep(0.3)
    wait_addressed(b, interface(b))
    _released(b)
    assert b.run(f"ping -c2 -W3 {IP['a']}", timeout=30).status == 0


def test_buffers_come_back_when_ports_close(pair: Lab) -> None:
    """Ring and extra buffers of a closed file return to the region; of a list the program
    cut short, what it still reaches (the rest comes back with the region, when the last
    port closes: _released checks that the region is gone)."""
    a = pair["a"]
    got = _checks(a, f"buffers {interface(a)}")
    assert got["granted"] == 64, got
    assert got["free_while_open"] <= got["free_before"] - 64, got
    assert got["free_after_clean"] == got["free_before"], got
    assert got["free_after_cut"] == got["free_before"] - 63, got
    assert got["written_from_a_buffer"] == 2048, got  # a page, not a raw PFN mapping
    _released(a)
