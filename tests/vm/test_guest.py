"""A booted guest: commands, exit codes, shares, timeouts, crashes."""

from __future__ import annotations

import socket

import pytest

from lab.console import CommandTimeout
from lab.provision import Platform
from lab.runs import RunDir
from lab.topology import default_specs
from lab.vm import Lab, VmError


def test_command_output_and_status(lab: Lab) -> None:
    result = lab["a"].run("echo hello; uname -r")
    assert result.status == 0
    lines = result.output.splitlines()
    assert lines[0] == "hello"
    assert lines[1].startswith("6.12.")


@pytest.mark.parametrize("status", [0, 1, 3, 42, 255])
def test_exit_status_propagates(lab: Lab, status: int) -> None:
    assert lab["a"].run(f"exit {status}").status == status


def test_awkward_commands_arrive_intact(lab: Lab) -> None:
    text = "quotes ' \" $HOME `x` \\ and; semicolons | pipes & ampersands"
    script = f"cat <<'EOF'\n{text}\nEOF\nprintf 'two\\nlines'"
    result = lab["a"].run(script)
    assert result.output == f"{text}\ntwo\nlines"


def test_stdin_is_not_the_console(lab: Lab) -> None:
    """A command reading stdin gets EOF instead of swallowing the next command."""
    assert lab["a"].run("cat").output == ""
    assert lab["a"].run("echo next").output == "next\n"


def test_hostname_and_addresses_from_the_topology(lab: Lab) -> None:
    assert lab["a"].run("hostname").output.strip() == "a"


def test_output_share_is_readable_on_the_host(lab: Lab) -> None:
    output = lab["a"].spec.share("output")
    lab["a"].run("echo written-by-guest > /mnt/output/evidence.txt", check=True)
    assert (output / "evidence.txt").read_text() == "written-by-guest\n"


def test_project_share_is_read_only(lab: Lab) -> None:
    result = lab["a"].run("grep '^name' /mnt/project/pyproject.toml; touch /mnt/project/x")
    assert 'name = "ringlab"' in result.output
    assert result.status != 0
    assert "Read-only file system" in result.output


def test_hung_command_times_out_and_the_channel_recovers(lab: Lab) -> None:
    with pytest.raises(CommandTimeout) as raised:
        lab["a"].run("echo started; sleep 600", timeout=2)
    assert "started" in raised.value.output
    assert lab["a"].run("echo alive").output == "alive\n"


def test_kernel_log_goes_to_the_run_directory(lab: Lab) -> None:
    lab["a"].run("echo ringlab-test-marker > /dev/kmsg", check=True)
    lab["a"].run("sleep 0.2")
    assert "ringlab-test-marker" in lab["a"].kernel_log()


def test_two_guests_boot_in_parallel(platform: Platform) -> None:
    topology = default_specs(["a", "b"], RunDir.new("test-parallel"))
    with Lab(topology, platform) as lab:
        boots = lab.start()
        assert set(boots) == {"a", "b"}
        assert lab["a"].run("hostname").output.strip() == "a"
        assert lab["b"].run("hostname").output.strip() == "b"


def test_a_crashed_guest_is_reported_not_hung(platform: Platform) -> None:
    topology = default_specs(["a"], RunDir.new("test-crash"))
    with Lab(topology, platform) as lab:
        lab.start()
        vm = lab["a"]
        with pytest.raises(VmError) as raised:
            vm.run("echo c > /proc/sysrq-trigger; sleep 30", timeout=60)
        assert "logs in" in str(raised.value)
        assert not vm.alive


def test_human_console_is_a_shell_without_kernel_messages(lab: Lab) -> None:
    """`ringlab console` attaches to this socket: a shell, and no printk noise."""
    vm = lab["a"]
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as human:
        human.connect(str(vm.console_socket))
        human.settimeout(10)
        vm.run("echo ringlab-noise-marker > /dev/kmsg", check=True)
        human.sendall(b"echo $((6 * 7))\n")
        seen = b""
        while b"42" not in seen:
            seen += human.recv(4096)
    assert b"ringlab-noise-marker" not in seen
