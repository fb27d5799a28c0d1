"""The supervisor's restart policy, on a stand-in for the process group (no processes): back-off
that resets after a healthy run, permanent failures reported instead of restarted forever."""

from __future__ import annotations

from syncpose.process import EXIT_FAILED, ProcessGroup, ProcessSpec, Supervisor


class FakeGroup(ProcessGroup):
    """Workers that 'die' when a test says so; restart records the time."""

    def __init__(self, names: list[str]) -> None:
        super().__init__([ProcessSpec(n, print) for n in names])
        self.now = 0.0
        self.codes: dict[str, int] = {}
        self.started = dict.fromkeys(names, 0.0)
        self.restarted: list[str] = []

    def exited(self) -> dict[str, int]:
        return dict(self.codes)

    def restart(self, name: str) -> None:
        self.codes.pop(name, None)
        self.started[name] = self.now
        self.restarted.append(name)

    def started_at(self, name: str) -> float:
        return self.started[name]

    def die(self, name: str, code: int, at: float) -> None:
        self.now = at
        self.codes[name] = code


def run_until_restarted(sup: Supervisor, group: FakeGroup, name: str) -> float:
    """Advance time in quarter seconds until ``name`` is restarted; the delay it waited."""
    died, before = group.now, group.restarted.count(name)
    sup.check(died)
    while group.restarted.count(name) == before:
        group.now += 0.25
        sup.check(group.now)
        assert group.now - died < 100.0, "never restarted"
    return group.now - died


def test_back_off_doubles_then_resets_after_a_healthy_run() -> None:
    group = FakeGroup(["cam"])
    sup = Supervisor(group, initial_s=1.0, max_s=30.0, healthy_s=60.0, quick_s=0.5)
    delays = []
    t = 0.0
    for _ in range(4):  # four crashes, each after 5 s of running: not healthy, not quick
        t = group.started["cam"] + 5.0
        group.die("cam", 1, t)
        delays.append(run_until_restarted(sup, group, "cam"))
    assert delays == [1.0, 2.0, 4.0, 8.0]
    group.die("cam", 1, group.started["cam"] + 120.0)  # it had run for two minutes
    assert run_until_restarted(sup, group, "cam") == 1.0
    assert sup.states["cam"] == "running"


def test_a_permanent_failure_is_reported_not_restarted() -> None:
    group = FakeGroup(["inference", "aligner"])
    sup = Supervisor(group)
    group.die("inference", EXIT_FAILED, 3.0)
    events = sup.check(3.0)
    assert sup.states["inference"] == "failed" and "failed" in events[0]
    for t in (10.0, 100.0, 1000.0):
        sup.check(t)
    assert group.restarted == [] and not sup.all_ended  # the aligner still runs


def test_a_crash_loop_on_start_is_reported_failed() -> None:
    group = FakeGroup(["server"])
    sup = Supervisor(group, initial_s=1.0, quick_s=10.0, max_quick_deaths=5)
    for k in range(5):
        group.die("server", 1, group.started["server"] + 0.5)  # dies half a second in
        if k < 4:
            run_until_restarted(sup, group, "server")
        else:
            events = sup.check(group.now)
    assert sup.states["server"] == "failed"
    assert "5 times in a row" in events[0]
    assert group.restarted.count("server") == 4
    assert sup.all_ended


def test_every_worker_ended_cleanly_ends_the_rig() -> None:
    group = FakeGroup(["cam0", "cam1"])
    sup = Supervisor(group)
    group.die("cam0", 0, 1.0)
    sup.check(1.0)
    assert not sup.all_ended
    group.die("cam1", 0, 2.0)
    sup.check(2.0)
    assert sup.all_ended and group.restarted == []
