"""The lab as an ordinary user: a freshly created account gets its own copy of ringlab and
its own virtualenv (from the system's Python and PyPI), imports the images an
administrator exported (or builds them itself, in a user namespace), boots a wired lab,
runs a command in it, takes it down and grades an exercise, with no root.  The account
exists for this test only."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from images.namespace import subordinate_ids
from lab.grading.model import find_exercise
from lab.provision import Platform
from tests.vm.helpers import ROOT, ringlab

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="creating a throwaway user account needs root"
)


@dataclass(frozen=True)
class Student:
    name: str
    home: Path

    @property
    def tree(self) -> Path:
        return self.home / "ringlab"

    def run(self, *argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """``argv`` as this user, with a clean environment: their own cache and state
        under their home, nothing of root's."""
        env = [f"HOME={self.home}", "PATH=/usr/bin:/bin"]
        return subprocess.run(
            ["runuser", "-u", self.name, "--", "env", "-i", *env, *argv],
            capture_output=True, text=True, timeout=timeout, cwd=self.home,
        )  # fmt: skip

    def ringlab(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return self.run(str(self.tree / ".venv" / "bin" / "ringlab"), *args, timeout=timeout)

    def give(self, path: Path) -> None:
        shutil.chown(path, self.name, self.name)
        for inner in path.rglob("*") if path.is_dir() else ():
            shutil.chown(inner, self.name, self.name)


@pytest.fixture
def student() -> Iterator[Student]:
    name = f"rl{os.getpid() % 100000}"
    home = Path(tempfile.mkdtemp(prefix="ringlab-student-"))
    subprocess.run(
        ["useradd", "--home-dir", str(home), "--no-create-home", "--user-group",
         "--shell", "/bin/sh", name],
        check=True,
    )  # fmt: skip
    user = Student(name, home)
    user.give(home)
    home.chmod(0o755)
    try:
        yield user
    finally:
        subprocess.run(["pkill", "-KILL", "-u", name], check=False)
        subprocess.run(["userdel", name], check=False)
        shutil.rmtree(home, ignore_errors=True)


def set_up(student: Student, extras: str = "", images: bool = True) -> None:
    """The student's copy of the course tree (as a clone would be, local changes
    included), their virtualenv (with ``extras``), and (``images``) the images root
    exported, imported."""
    skip = shutil.ignore_patterns(".venv", ".git", "_build", "__pycache__", "*.egg-info")
    shutil.copytree(ROOT, student.tree, ignore=skip, symlinks=True)
    student.give(student.tree)
    venv = student.run("/usr/bin/python3", "-m", "venv", str(student.tree / ".venv"))
    assert venv.returncode == 0, venv.stderr
    pip = student.tree / ".venv" / "bin" / "pip"
    installed = student.run(
        str(pip), "install", "-q", "-e", f"{student.tree}{extras}", "pytest", "pytest-timeout",
        timeout=600,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stdout + installed.stderr
    if not images:
        return

    bundle = student.home / "ringlab-images.tar.gz"
    export = ringlab("images", "export", str(bundle))
    assert export.returncode == 0, export.stderr
    student.give(bundle)
    imported = student.ringlab("images", "import", str(bundle))
    assert imported.returncode == 0, imported.stdout + imported.stderr


def wired_lab_answers(student: Student) -> None:
    """The student brings up two wired guests, b pings a through the vNIC, and down."""
    up = student.ringlab("up", "--wired", "a", "b")
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        ping = student.ringlab("exec", "b", "--", "ping", "-c", "2", "-W", "5", "198.18.0.1")
        assert ping.returncode == 0, ping.stdout + ping.stderr
    finally:
        down = student.ringlab("down")
    assert down.returncode == 0, down.stdout + down.stderr


def test_an_ordinary_user_runs_the_whole_lab_from_imported_images(
    platform: Platform, student: Student
) -> None:
    set_up(student)
    doctor = json.loads(student.ringlab("doctor", "--json").stdout)
    assert doctor["image"]["built"] and doctor["cache"].startswith(str(student.home))
    assert doctor["accel"]["use"] in ("tcg", "kvm")

    wired_lab_answers(student)

    exercise = find_exercise("00-rings")
    submission = student.home / "00-rings"
    shutil.copytree(exercise.solution, submission)
    student.give(submission)
    out = student.home / "report.json"
    graded = student.ringlab(
        "grade", exercise.name, "--submission", str(submission), "--format", "json",
        "--out", str(out),
    )  # fmt: skip
    assert graded.returncode == 0, graded.stdout[-2000:] + graded.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["score"] == report["max_score"] > 0, json.dumps(report, indent=1)[-3000:]

    # everything the lab made is the student's, and nothing of it runs any more
    made = [p for p in student.home.rglob("*") if not p.is_symlink()]
    assert all(pwd.getpwuid(p.stat().st_uid).pw_name == student.name for p in made)
    left = subprocess.run(["pgrep", "-u", student.name], capture_output=True, text=True)
    assert left.stdout == "", f"processes of {student.name} left: {left.stdout}"


def test_an_ordinary_user_runs_a_lab_under_their_libvirt_session(
    platform: Platform, student: Student
) -> None:
    """``--backend libvirt`` as a user: qemu:///session, whose daemon libvirt starts for
    them, runs their guests as them."""
    if shutil.which("libvirtd") is None:
        pytest.skip("libvirt is not installed (make test installs it as root)")
    set_up(student, "[libvirt]")
    up = student.ringlab("--backend", "libvirt", "up", "--wired", "a", "b")
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        ping = student.ringlab("exec", "b", "--", "ping", "-c", "2", "-W", "5", "198.18.0.1")
        assert ping.returncode == 0, ping.stdout + ping.stderr
        domains = student.run("virsh", "-c", "qemu:///session", "list", "--name")
        assert domains.stdout.split() and all(
            name.endswith(("-a", "-b")) for name in domains.stdout.split()
        ), domains.stdout + domains.stderr
        qemus = subprocess.run(["pgrep", "-u", student.name, "-f", "qemu-system"],
                               capture_output=True, text=True)  # fmt: skip
        assert len(qemus.stdout.split()) == 2, "the guests' QEMUs should run as the student"
    finally:
        down = student.ringlab("down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert list(student.home.rglob("domain.xml")), "the guests were not libvirt domains"
    domains = student.run("virsh", "-c", "qemu:///session", "list", "--all", "--name")
    assert domains.stdout.split() == [], f"domains left: {domains.stdout}"
    left = subprocess.run(["pgrep", "-u", student.name, "-f", "qemu-system"],
                          capture_output=True, text=True)  # fmt: skip
    assert left.stdout == "", f"QEMUs of {student.name} left: {left.stdout}"


def test_an_ordinary_user_builds_the_images_themselves(
    platform: Platform, student: Student
) -> None:
    """No root and no imported bundle: the user's own build, in a user namespace
    (images.namespace), makes an image whose files have the owners root's build gives
    them, and a lab boots from it; ``images clean`` removes even what a subordinate id owns."""
    if not subordinate_ids(student.name):
        pytest.skip("useradd gave the account no subordinate ids (/etc/subuid)")
    set_up(student, images=False)
    built = student.ringlab("images", "build", timeout=900)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    doctor = json.loads(student.ringlab("doctor", "--json").stdout)
    assert doctor["image"]["built"] and doctor["cache"].startswith(str(student.home))
    image = Path(doctor["cache"]) / "image" / platform.image.key / "rootfs.ext4"
    listing = subprocess.run(
        ["debugfs", "-R", "stat /etc/shadow", str(image)], capture_output=True, text=True
    )
    assert "User:     0   Group:    42" in listing.stdout, listing.stdout  # root:shadow

    wired_lab_answers(student)

    theirs = {pwd.getpwnam(student.name).pw_uid, *subordinate_ids(student.name)}
    made = [p for p in student.home.rglob("*") if not p.is_symlink()]
    assert all(p.lstat().st_uid in theirs for p in made)
    cleaned = student.ringlab("images", "clean")
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert not Path(doctor["cache"]).exists(), "images clean left files a subordinate id owns"
    left = subprocess.run(["pgrep", "-u", student.name], capture_output=True, text=True)
    assert left.stdout == "", f"processes of {student.name} left: {left.stdout}"
