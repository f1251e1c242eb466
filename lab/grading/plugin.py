"""The grading plugin for pytest: load it with ``-p lab.grading.plugin``.

A check is a pytest test with a marker::

    @pytest.mark.check(points=2, timeout=20, hint="...", visible=True, depends=["compiles"], step=1)
    def test_squares(grading, measure): ...

Settings are resolved into one :class:`~lab.grading.model.CheckSettings` per check:
the marker beats ``--check-timeout``, which beats ``$RINGLAB_CHECK_TIMEOUT``, which
beats the ``check_timeout`` ini key (default 60 s).

What the plugin adds to pytest:

* **dependencies** — a check whose ``depends`` did not pass is skipped with the reason
  and reported as *not run*, never as a crash; dependencies outside the selected
  checks (``--step``) count as met;
* **a per-check time budget** — programs run in the guest get what is left of it
  (see :class:`Budget`); a host-side timer (the ``pytest_ringlab_check_set_timer`` hook,
  SIGALRM by default) fails a check that overruns it by :data:`BACKSTOP` seconds;
* **fixtures** — ``grading`` (the :class:`~lab.grading.session.GradingSession`:
  exercise, staged submission, lab),
  ``lab`` (the booted :class:`~lab.vm.Lab`, rebooted if a guest died), ``guest``
  (run student programs within the budget), ``measure`` (record measured values);
* **results** — one :class:`~lab.grading.model.CheckResult` per check, gathered at the
  end into one :class:`~lab.grading.model.GradeReport`: kept in the config's stash under
  :data:`report_key` (the runner takes it from there) and written as JSON to
  ``--grade-report``; :mod:`lab.grading.reports` turns it into reports.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from lab.grading.model import (
    CheckResult,
    CheckSettings,
    Exercise,
    GradeReport,
    Measurement,
    Status,
    cap,
)
from lab.grading.session import GradingSession, ProgramRun

DEFAULT_TIMEOUT = 60.0
#: Seconds a check may overrun its budget before the host-side timer fails it.
BACKSTOP = 15.0
SESSION_PLUGIN = "ringlab-grading-session"

settings_key = pytest.StashKey[CheckSettings]()
results_key = pytest.StashKey[dict[str, CheckResult]]()
started_key = pytest.StashKey[float]()
measures_key = pytest.StashKey[list[Measurement]]()
#: The run's results as one report, set when the session finishes.
report_key = pytest.StashKey[GradeReport]()


class CheckTimeout(Exception):
    """The host-side backstop: a check overran its budget."""


# -- hooks other plugins may implement (the exercise driver, tests) ---------------------------


class Hooks:
    @pytest.hookspec(firstresult=True)
    def pytest_ringlab_check_set_timer(self, item: pytest.Item, settings: CheckSettings) -> object:
        """Arm the host-side backstop for ``item``; return non-None when handled."""

    @pytest.hookspec(firstresult=True)
    def pytest_ringlab_check_cancel_timer(self, item: pytest.Item) -> object:
        """Disarm the backstop armed for ``item``; return non-None when handled."""


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(Hooks)


# -- options, marker, settings --------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ringlab grading")
    group.addoption("--submission", type=Path, help="the submission folder to grade")
    group.addoption("--exercise", type=Path, help="the exercise folder (has exercise.toml)")
    group.addoption(
        "--check-timeout",
        type=float,
        help="default per-check budget in seconds (a check's marker beats it)",
    )
    group.addoption("--grade-report", type=Path, help="write the results here as JSON")
    group.addoption("--step", type=int, help="run only the checks of this step")
    parser.addini("check_timeout", "default per-check budget in seconds", default=None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "check(points=1, timeout=None, hint='', visible=True, depends=(), step=None): "
        "a graded check; see lab.grading.plugin",
    )
    config.stash[results_key] = {}


def default_timeout(config: pytest.Config) -> float:
    option = config.getoption("check_timeout", None)
    if option is not None:
        return float(option)
    if env := os.environ.get("RINGLAB_CHECK_TIMEOUT"):
        return float(env)
    ini = config.getini("check_timeout")
    return float(ini) if ini else DEFAULT_TIMEOUT


def settings_of(item: pytest.Item) -> CheckSettings:
    marker = item.get_closest_marker("check")
    kwargs: dict[str, Any] = dict(marker.kwargs) if marker else {}
    timeout = kwargs.get("timeout")
    return CheckSettings(
        points=float(kwargs.get("points", 1.0)),
        timeout=float(timeout) if timeout is not None else default_timeout(item.config),
        hint=str(kwargs.get("hint", "")),
        visible=bool(kwargs.get("visible", True)),
        depends=tuple(kwargs.get("depends", ())),
        step=kwargs.get("step"),
    )


def check_name(item: pytest.Item) -> str:
    name = getattr(item, "originalname", None) or item.name
    return name.removeprefix("test_")


def check_title(item: pytest.Item) -> str:
    doc = getattr(getattr(item, "function", None), "__doc__", None) or ""
    return doc.strip().splitlines()[0] if doc.strip() else check_name(item).replace("_", " ")


def pytest_report_header(config: pytest.Config) -> str:
    return (
        f"ringlab grading: default check budget {default_timeout(config):g} s, "
        f"backstop +{BACKSTOP:g} s, submission {config.getoption('submission')}"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        item.stash[settings_key] = settings_of(item)
    step = config.getoption("step")
    if step is not None:
        # Step-less checks ("the program parses") are what every step stands on.
        keep = [i for i in items if i.stash[settings_key].step in (step, None)]
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep


# -- running one check ------------------------------------------------------------------------


def pytest_runtest_setup(item: pytest.Item) -> None:
    settings = item.stash[settings_key]
    done = item.config.stash[results_key]
    for dep in settings.depends:
        if dep in done and done[dep].status is not Status.PASSED:
            pytest.skip(f"not run: it needs check {dep!r}, which did not pass")
    item.stash[measures_key] = []


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    """The budget starts after the fixtures: booting the lab is not the student's time."""
    item.stash[started_key] = time.monotonic()
    item.config.hook.pytest_ringlab_check_set_timer(item=item, settings=item.stash[settings_key])


def pytest_runtest_teardown(item: pytest.Item) -> None:
    item.config.hook.pytest_ringlab_check_cancel_timer(item=item)


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise CheckTimeout("the check overran its time budget on the host")


@pytest.hookimpl(trylast=True)
def pytest_ringlab_check_set_timer(item: pytest.Item, settings: CheckSettings) -> object:
    """Default backstop: SIGALRM in the main thread (what pytest-timeout calls "signal")."""
    if not hasattr(signal, "SIGALRM"):
        return None
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, settings.timeout + BACKSTOP)
    return True


@pytest.hookimpl(trylast=True)
def pytest_ringlab_check_cancel_timer(item: pytest.Item) -> object:
    if not hasattr(signal, "SIGALRM"):
        return None
    signal.setitimer(signal.ITIMER_REAL, 0)
    return True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    results = item.config.stash[results_key]
    name = check_name(item)
    settings = item.stash.get(settings_key, None) or settings_of(item)
    setup_ended_it = report.when == "setup" and not report.passed  # skipped or errored
    if report.when == "call" or setup_ended_it:
        if report.skipped:
            status, message = Status.NOT_RUN, _skip_reason(report)
        elif report.passed:
            status, message = Status.PASSED, ""
        else:
            status, message = Status.FAILED, _failure_message(call, report.when)
            if call.excinfo is not None and call.excinfo.errisinstance(CheckTimeout):
                grading = _session(item.config)
                if grading is not None:
                    grading.lab.suspect = True  # probe the channel before the next check
        results[name] = CheckResult(
            name=name,
            title=check_title(item),
            settings=settings,
            status=status,
            score=settings.points if status is Status.PASSED else 0.0,
            output=cap(message),
            seconds=round(
                max(0.0, time.monotonic() - item.stash.get(started_key, time.monotonic())), 2
            ),
            measurements=_measures(item),
        )
    elif report.when == "teardown" and report.failed and name in results:
        results[name].output = cap(results[name].output + "\n" + _failure_message(call, "teardown"))
    return report


def _measures(item: pytest.Item) -> list[Measurement]:
    found: list[Measurement] = item.stash.get(measures_key, [])
    return list(found)


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _failure_message(call: pytest.CallInfo[None], when: str) -> str:
    excinfo = call.excinfo
    if excinfo is None:
        return "failed"
    if excinfo.errisinstance(CheckTimeout):
        return "timed out: the check overran its time budget (a hung program?)"
    if excinfo.errisinstance(AssertionError):
        text = str(excinfo.value).strip() or excinfo.exconly()
        # The check's own message is what a student acts on; pytest's rewritten
        # "assert ..." explanation after it only repeats the comparison.
        if not text.startswith("assert ") and "\nassert " in text:
            text = text[: text.index("\nassert ")]
    else:
        text = excinfo.exconly()
    if when == "setup":
        return f"could not prepare the check: {text}"
    return text


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    grading = _session(config)
    report = config.stash[report_key] = GradeReport(
        exercise=grading.exercise.name if grading else "",
        submission=str(config.getoption("submission") or ""),
        results=list(config.stash[results_key].values()),
        run_dir=str(grading.lab.run_dir.path) if grading else "",
    )
    target = config.getoption("grade_report", None)
    if target is not None:
        Path(target).write_text(json.dumps(report.to_json(), indent=2) + "\n")


def pytest_unconfigure(config: pytest.Config) -> None:
    own = config.stash.get(own_session_key, None)
    if own is not None:
        own.close()


# -- fixtures -----------------------------------------------------------------------------------

own_session_key = pytest.StashKey[GradingSession]()


def _session(config: pytest.Config) -> GradingSession | None:
    given = config.pluginmanager.get_plugin(SESSION_PLUGIN)
    if isinstance(given, GradingSession):
        return given
    return config.stash.get(own_session_key, None)


@pytest.fixture(scope="session")
def grading(pytestconfig: pytest.Config) -> GradingSession:
    """The grading session: exercise, staged submission (host side), the lab."""
    found = _session(pytestconfig)
    if found is not None:
        return found
    exercise_dir = pytestconfig.getoption("exercise")
    submission = pytestconfig.getoption("submission")
    if exercise_dir is None or submission is None:
        pytest.fail("grading needs --exercise DIR and --submission DIR", pytrace=False)
    own = GradingSession.create(Exercise.load(exercise_dir), submission, "check")
    pytestconfig.stash[own_session_key] = own
    return own


@pytest.fixture
def lab(grading: GradingSession) -> Any:
    """The exercise's booted lab (a fresh one if a guest died in an earlier check)."""
    return grading.lab.ensure()


class Budget:
    """Runs student programs in guests within what is left of the check's budget."""

    def __init__(self, grading: GradingSession, item: pytest.Item, budget: float) -> None:
        self.grading = grading
        self.item = item
        self.budget = budget

    def left(self) -> float:
        started = self.item.stash.get(started_key, time.monotonic())
        return max(1.0, started + self.budget - time.monotonic())

    def run(self, vm: str, command: str, timeout: float | None = None) -> ProgramRun:
        """Run ``command`` in ``vm``; it gets ``timeout`` or the budget left, if smaller."""
        limit = self.left() if timeout is None else min(timeout, self.left())
        return self.grading.lab.run(vm, command, limit)

    def start(self, vm: str, command: str, tag: str) -> None:
        self.grading.lab.start(vm, command, self.left(), tag)

    def collect(self, vm: str, tag: str, stop: bool = False) -> ProgramRun:
        return self.grading.lab.collect(vm, tag, 5.0 if stop else self.left(), stop=stop)

    def wait_until(self, vm: str, test: str, tag: str, what: str, within: int = 20) -> None:
        """Wait until the shell ``test`` succeeds in ``vm`` (``tag``, started in the
        background, is ``what``): Python starts slowly under TCG.  Stops waiting, and fails
        with what the program said, when it has already ended.

        The looks are light, for they take the one vCPU from the program that is starting:
        counted rather than timed with ``date`` each time, so ``test`` should be a cheap
        command or two (``ss`` costs 80 ms a look, ``grep`` on a /proc table 15 ms)."""
        run = self.run(
            vm,
            f"n=0; while [ $n -lt {within * 10} ]; do {test} && exit 0; "
            f"[ -e /tmp/.rl-bg-{tag}.rc ] && exit 2; sleep 0.1; n=$((n + 1)); done; exit 1",
        )
        if run.status == 2:
            ended = self.collect(vm, tag)
            raise AssertionError(f"it ended before {what}: {ended.explain()}")
        assert run.ok, f"nothing was {what} in guest {vm} within {within} s"

    def listening(self, vm: str, port: int, tag: str, proto: str = "t", within: int = 20) -> None:
        """Wait until ``tag`` listens on ``port`` (TCP, or UDP with ``proto="u"``), as the
        kernel's socket tables say: a listening TCP socket is in state 0A, a bound UDP one
        in 07, both with no remote port."""
        table = {"t": "tcp", "u": "udp"}[proto]
        state = {"t": "0A", "u": "07"}[proto]
        bound = (
            f"grep -qsE ':{port:04X} [0-9A-F]+:0000 {state} ' /proc/net/{table} /proc/net/{table}6"
        )
        self.wait_until(vm, bound, tag, f"listening on port {port}", within)


@pytest.fixture
def guest(request: pytest.FixtureRequest, grading: GradingSession, lab: Any) -> Budget:
    """Run student programs in the guests within the check's budget (lab booted first)."""
    item = request.node
    settings = item.stash.get(settings_key, None) or settings_of(item)
    return Budget(grading, item, settings.timeout)


@pytest.fixture
def measure(request: pytest.FixtureRequest) -> Iterator[Callable[..., None]]:
    """``measure(name, value, unit="", leaderboard=False, order="desc")`` records a value."""
    store: list[Measurement] = request.node.stash.setdefault(measures_key, [])

    def record(
        name: str, value: float, unit: str = "", leaderboard: bool = False, order: str = "desc"
    ) -> None:
        store.append(Measurement(name, float(value), unit, leaderboard, order))

    yield record
