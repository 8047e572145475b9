"""The backends a contract test runs on: the simulation, its rabbitmq profile, and RabbitMQ.

Every test in this folder takes the ``backend`` fixture and runs three
times: on a seeded :class:`~evtlib.sim.Simulation` of the log family
(``profile="kafka"``, backend ``"sim"``), on the simulated RabbitMQ
(``Broker(sim, profile="rabbitmq")``, backend ``"sim-rabbitmq"``) and on a
real RabbitMQ through :mod:`evtlib.adapters.rabbitmq`.  Without a reachable
RabbitMQ the last run is skipped with a message that says how to start one;
with ``EVTLIB_REQUIRE_RABBITMQ=1`` (set by ``.ci/run``) it fails instead, so
CI always runs it.

Where the simulated rabbitmq profile behaves otherwise than RabbitMQ 3.10
through the adapter, a test says so with :meth:`Backend.differs`, naming an
entry of :data:`~tests.contract.differences.DIFFERENCES` (which gives the
reason); nothing is skipped silently.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterator
from itertools import count
from typing import Any

import pytest

from evtlib import Broker, Simulation

from .differences import DIFFERENCES

BACKENDS = ("sim", "sim-rabbitmq", "rabbitmq")
REQUIRE_ENV = "EVTLIB_REQUIRE_RABBITMQ"
_reachability: dict[str, str | None] = {}
_control: dict[str, str | None] = {}


def rabbitmqctl_problem() -> str | None:
    """``None`` if ``rabbitmqctl`` is here and may talk to the node, else why not (cached).

    It needs the node's Erlang cookie: on a machine whose RabbitMQ runs as
    another user, or in a container (CI's service), it cannot.
    """
    if "answer" not in _control:
        exe = shutil.which("rabbitmqctl")
        if exe is None:
            _control["answer"] = "needs rabbitmqctl on this machine"
        else:
            try:
                done = subprocess.run(
                    [exe, "-q", "list_vhosts"], capture_output=True, timeout=60, check=False
                )
                ok = done.returncode == 0
            except (OSError, subprocess.TimeoutExpired):
                ok = False
            _control["answer"] = None if ok else "rabbitmqctl cannot talk to the node here"
    return _control["answer"]


@pytest.fixture
def rabbitmqctl() -> str:
    """The path of a ``rabbitmqctl`` that may restart the node and set alarms; else skip."""
    require_rabbitmq()
    problem = rabbitmqctl_problem()
    if problem is not None:
        pytest.skip(problem)
    return str(shutil.which("rabbitmqctl"))


def rabbitmq_problem() -> str | None:
    """``None`` if RabbitMQ answers; else why not, and how to start one (cached per run)."""
    if "answer" not in _reachability:
        try:
            from evtlib.adapters import rabbitmq
        except ImportError as exc:
            _reachability["answer"] = f"{exc}"
        else:
            problem = rabbitmq.reachable()
            if problem is not None and rabbitmq.HOW_TO_START not in problem:
                problem = f"{problem}; {rabbitmq.HOW_TO_START}"
            _reachability["answer"] = problem
    return _reachability["answer"]


def require_rabbitmq() -> None:
    """Skip the test without RabbitMQ, or fail it when ``EVTLIB_REQUIRE_RABBITMQ=1``."""
    problem = rabbitmq_problem()
    if problem is None:
        return
    message = f"RabbitMQ is not reachable: {problem}"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{message} ({REQUIRE_ENV}=1, so this is a failure, not a skip)")
    pytest.skip(message)


class Backend:
    """One backend for a contract test: a broker, its clock, and how to wait on it."""

    def __init__(self, kind: str, prefix: str, *, profile: str = "rabbitmq") -> None:
        self.kind = kind
        self._names = count(1)
        if kind in ("sim", "sim-rabbitmq"):
            self.sim: Any = Simulation(seed=0)
            if kind == "sim":
                self.broker: Any = Broker(self.sim)  # the log family (profile "kafka")
            else:
                self.broker = Broker(self.sim, profile="rabbitmq")  # the queue family
            self.prefix = prefix
        else:
            from evtlib.adapters.rabbitmq import RabbitBroker, RealTime

            self.sim = RealTime(seed=0)
            self.broker = RabbitBroker(sim=self.sim, profile=profile)
            # Queues on a real broker outlive a failed run: a random suffix keeps runs apart.
            self.prefix = f"{prefix}-{secrets.token_hex(3)}"

    @property
    def simulated(self) -> bool:
        """Whether this backend is a simulation (either family)."""
        return self.kind != "rabbitmq"

    def differs(self, difference: str) -> bool:
        """Whether ``difference`` (a key of ``DIFFERENCES``) applies here: on ``sim-rabbitmq``.

        A test that asserts something else on the simulated rabbitmq profile
        asks this first, so each such place names its reason.
        """
        if difference not in DIFFERENCES:
            raise KeyError(f"difference must be one of {sorted(DIFFERENCES)}, got {difference!r}")
        return self.kind == "sim-rabbitmq"

    def partitions(self, n: int) -> int:
        """``n``, or 1 on the simulated rabbitmq profile (difference ``"partitions"``)."""
        return 1 if self.differs("partitions") else n

    def name(self, base: str) -> str:
        """A topic name unique to this test (and run, on RabbitMQ)."""
        return f"{self.prefix}.{base}{next(self._names)}"

    def wait(self, condition: Callable[[], bool], timeout: float = 15_000.0) -> None:
        """Run until ``condition()`` holds; fail after ``timeout`` ms (simulated or real)."""
        sim = self.sim
        if self.simulated:
            deadline = sim.now + timeout
            while not condition():
                if sim.peek() > deadline:
                    raise TimeoutError(f"condition still false at {sim.now:g} ms (simulated)")
                sim.step()
        else:
            sim.run_until(condition, timeout=timeout)

    def idle(self, ms: float = 300.0) -> None:
        """Let ``ms`` more ms pass (to show nothing else arrives)."""
        self.sim.run(until=self.sim.now + ms)

    def dead_letter_queue(self, topic: str) -> Any:
        """The view of a dead-letter topic: the pattern's own, or RabbitMQ's."""
        if self.simulated:
            from evtlib.patterns import DeadLetterQueue

            return DeadLetterQueue(self.broker, topic)
        return self.broker.dead_letter_queue(topic)

    def close(self) -> None:
        if self.kind == "rabbitmq":
            try:
                self.broker.delete_all()
            finally:
                self.broker.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """The same scenario on the simulated broker, its rabbitmq profile and on RabbitMQ."""
    if request.param == "rabbitmq":
        require_rabbitmq()
    prefix = re.sub(r"[^a-z0-9]+", "-", request.node.originalname.lower()).strip("-")
    b = Backend(request.param, prefix)
    try:
        yield b
    finally:
        b.close()


@pytest.fixture(params=("sim", "rabbitmq"))
def log_backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """The same log scenario on the simulated broker and on RabbitMQ streams (profile "kafka")."""
    if request.param == "rabbitmq":
        require_rabbitmq()
    prefix = re.sub(r"[^a-z0-9]+", "-", request.node.originalname.lower()).strip("-")
    b = Backend(request.param, prefix, profile="kafka")
    try:
        yield b
    finally:
        b.close()
