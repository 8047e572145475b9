"""Notebook 09 (dead-letter queue): explorers and the build exercise's fault sweep.

* :func:`poison_run`: one partition, 40 orders, some poison, billing on a
  dead-letter consumer whose retry policy is the knob; the lag it leaves
  (explorer: attempts, backoff, base wait, jitter, poison count).
* :func:`storm_run`: the retry storm of notebook 09 with the policy's knobs
  (explorer: jitter, clients, base wait).
* :func:`native_dead_letters`: the same failing order on each queue broker
  profile, with a plain consumer that retries for ever: the broker counts the
  deliveries and dead-letters it by itself, recording its own reason.
* :func:`retry_topics_pair`: the retry-topics story of notebook 09 run both
  ways, blocking and with retry topics; :func:`draw_retry_topics_pair` draws
  the two side by side (explorer: how often order-1 fails, the first delay).
* :func:`retry_schedule`: one seeded fault schedule around a learner's
  ``decide(error, attempt)``, the dead-letter decision (the build exercise).

All are pure and seeded: the same arguments give the same result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ... import checks
from ...broker import Broker
from ...consumer import Consumer, Delivery
from ...distributions import Schedule
from ...events import Event
from ...outcome import Outcome
from ...patterns import (
    DeadLetterConsumer,
    DeadLetterQueue,
    RetryPolicy,
    head_of_line,
    retry_storm,
)
from ...patterns.dlq_scenarios import HeadOfLine, PoisonError, StormResult
from ...patterns.retry_topics import RetryTopicsRun, retry_topics_run
from ...producer import Producer
from ...queues import QueueBroker
from ...sim import Simulation
from .build_check import Breach

__all__ = [
    "poison_run",
    "draw_poison_run",
    "storm_run",
    "draw_storm_run",
    "retry_schedule",
    "NATIVE",
    "native_dead_letters",
    "retry_topics_pair",
    "draw_retry_topics_pair",
    "OUTAGE_MAX_MS",
    "POISON_HOLD_MAX_MS",
]


#: (profile, its settings, the setting that dead-letters, as the broker calls it)
NATIVE: tuple[tuple[str, dict[str, Any], str], ...] = (
    ("rabbitmq", {}, "x-delivery-limit 20 (the default from RabbitMQ 4.0)"),
    ("sqs", {"maxReceiveCount": 3}, "redrive policy maxReceiveCount 3 (set by hand)"),
    ("service-bus", {}, "MaxDeliveryCount 10 (the default)"),
)


def native_dead_letters() -> list[dict[str, Any]]:
    """One GBP order that always fails, a consumer that retries for ever, on each queue profile.

    The broker counts the deliveries and moves the message to the
    subscription's dead-letter queue by itself.  One row per profile: the
    setting, the deliveries counted, and what the broker's record says
    (``reason``, ``error_type`` as the broker names it, ``error_message``):
    the broker never saw the handler's exception.
    """
    rows: list[dict[str, Any]] = []
    for profile, settings, setting in NATIVE:
        sim = Simulation(0)
        broker = Broker(sim, profile=profile, settings=settings or None)
        assert isinstance(broker, QueueBroker)  # a queue profile gives the queue family's broker
        broker.create_topic("orders")
        broker.create_topic("orders.dlq")

        def charge(event: Event) -> None:
            raise LookupError(f"no exchange rate for {event.data['currency']}")

        Consumer(broker, "billing", "orders", charge, retry_delay=10)
        broker.group("billing").use_dead_letter_topic("orders.dlq")  # the queue's dead-letter queue
        order = Event(
            id="evt-000004",
            type="OrderPlaced",
            time=0.0,
            source="order-service",
            key="order-4",
            data={"order_id": "order-4", "total": 17, "currency": "GBP"},
        )
        broker.publish("orders", order, actor="order-service")
        sim.run()
        (record,) = DeadLetterQueue(broker, "orders.dlq").list()
        rows.append(
            {
                "broker": profile,
                "dead-letters after": setting,
                "deliveries": record.attempts,
                "why it moved": record.error_type,
                "the LookupError": "recorded"
                if "LookupError" in record.error_message
                else "not recorded",
            }
        )
    return rows


def retry_topics_pair(fails: int = 2, first_delay: float = 100.0) -> list[RetryTopicsRun]:
    """The notebook's seven events, order-1's ``OrderPlaced`` failing ``fails`` times.

    Run blocking and with retry topics, with the delays ``first_delay``, then
    twice and four times as long (three retries: four failures send it to the
    dead-letter topic).
    """
    checks.integer("fails", fails, min=0, max=4)
    checks.number("first_delay", first_delay, above=0, max=10_000)
    delays = (first_delay, 2 * first_delay, 4 * first_delay)
    failures = {("order-1", "OrderPlaced"): fails}
    return [
        retry_topics_run(mode, failures=failures, delays=delays)
        for mode in ("blocking", "retry-topics")
    ]


def draw_retry_topics_pair(runs: list[RetryTopicsRun]) -> Any:
    """Both runs of :func:`retry_topics_pair`, side by side (a Figure)."""
    from ...viz.patterns import draw_retry_topics

    return draw_retry_topics(runs)


def poison_run(
    max_attempts: int = 3,
    backoff: str = "exponential",
    base: float = 100.0,
    jitter: str = "none",
    poison: int = 1,
) -> HeadOfLine:
    """40 orders into one partition, ``poison`` of them poison, billing dead-lettering.

    The poison orders are 5, 15, 25... (the first ``poison`` of them);
    billing's :class:`~evtlib.patterns.RetryPolicy` is built from the knobs.
    """
    checks.integer("poison", poison, min=0, max=4)
    policy = RetryPolicy(max_attempts, backoff=backoff, base=base, jitter=jitter)
    bad = tuple(5 + 10 * i for i in range(poison))
    return head_of_line(True, poison=bad, policy=policy, until=4000.0)


def draw_poison_run(run: HeadOfLine, ax: Any = None) -> Any:
    """Billing's consumer lag over the run; the title counts what was handled and dead-lettered."""
    from ...viz import draw_consumer_lag

    policy = run.consumer.policy if isinstance(run.consumer, DeadLetterConsumer) else None
    return draw_consumer_lag(
        run.lag,
        ax,
        title=(
            f"{policy.max_attempts} attempts, {policy.backoff} from {policy.base:g} ms:"
            f" handled {run.handled} of {run.published}, dead-lettered {run.dead_lettered}"
            if policy is not None
            else None
        ),
    )


def storm_run(jitter: str = "none", clients: int = 20, base: float = 100.0) -> StormResult:
    """The retry storm of notebook 09: ``clients`` retrying with backoff from ``base`` ms."""
    checks.integer("clients", clients, min=1, max=60)
    policy = RetryPolicy(8, backoff="exponential", base=base, cap=10_000.0)
    return retry_storm(jitter, clients=clients, policy=policy)


def draw_storm_run(result: StormResult, ax: Any = None) -> Any:
    """Calls to the pricing service per 10 ms, stacked: first tries, failed and served retries.

    Drawn on ``ax`` (a new figure if None), so an explorer redraws in place.
    """
    import matplotlib.pyplot as plt

    from ...viz.patterns import storm_bars

    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.8), layout="constrained")
    until = max(1000.0, result.finished_at + 100)
    storm_bars(ax, [b for b in result.buckets if b.start < until])
    ax.set_xlim(-50, until)
    ax.set_xlabel("simulated time (ms)")
    ax.set_ylabel("calls per 10 ms")
    ax.legend(loc="upper right")
    ax.set_title(
        f"jitter={result.jitter}: {result.attempts} calls, at most {result.peak_retries}"
        f" retries in 10 ms, last at {result.finished_at:.0f} ms",
        loc="left",
    )
    return ax


# ---------------------------------------------------------------- the build exercise

#: The longest outage of the payment service in a schedule (ms).
OUTAGE_MAX_MS = 800.0
#: The longest a poison order may hold its partition before it is dead-lettered (ms).
POISON_HOLD_MAX_MS = 5000.0


class _LearnerBilling(DeadLetterConsumer):
    """Billing whose dead-letter decision is the learner's ``decide(error, attempt)``."""

    def __init__(
        self, broker: Broker, work: Callable[[Event], None], decide: Callable[..., Any]
    ) -> None:
        self.decide = decide
        self.waits: dict[tuple[str, int, int], float] = {}
        self.first_failure: dict[str, float] = {}
        self.bad_answer: str | None = None
        # max_attempts is the learner's to decide: the policy here only keeps the core happy.
        super().__init__(broker, "billing", "orders", work, policy=RetryPolicy(10**6))

    def process(self, delivery: Delivery) -> Outcome | None:
        event = delivery.event
        try:
            self._action(event)
        except Exception as exc:
            self.first_failure.setdefault(event.id, self.sim.now)
            wait = self.decide(exc, delivery.attempt)
            if wait is None:
                return self._dead_letter(delivery, "failed", type(exc).__name__, str(exc))
            if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not wait >= 0:
                self.bad_answer = (
                    f"decide({type(exc).__name__}(...), {delivery.attempt}) returned {wait!r},"
                    " not a wait in ms (a number >= 0) or None"
                )
                return self._dead_letter(delivery, "failed", type(exc).__name__, str(exc))
            self.waits[(delivery.topic, delivery.partition, delivery.offset)] = float(wait)
            raise
        self.succeeded += 1
        return None

    def retry_after(self, delivery: Delivery, error: BaseException) -> float:
        wait = self.waits.pop((delivery.topic, delivery.partition, delivery.offset), 0.0)
        sim = self.sim
        if sim.trace.enabled:
            sim.trace.record(
                sim.now,
                "retried",
                self.name,
                delivery.event.id,
                delivery.topic,
                delivery.partition,
                delivery.offset,
                f"attempt {delivery.attempt} failed; next in {wait:g} ms",
            )
        return wait


def retry_schedule(decide: Callable[..., Any], seed: int, trace: bool = False) -> Breach | None:
    """One fault schedule around ``decide(error, attempt) -> wait in ms | None``.

    8 to 20 orders over 1-3 partitions within 3 s.  Some are poison
    (``PoisonError``: they never succeed); some time out their first 1-3
    tries (``TimeoutError``); and the payment service may be down for up to
    :data:`OUTAGE_MAX_MS` ms (``ConnectionError`` meanwhile).  Invariants:
    nothing is left blocked at the end; every order that can succeed is
    handled, not dead-lettered; a poison order is dead-lettered within
    :data:`POISON_HOLD_MAX_MS` ms of its first failure.
    """
    sim = Simulation(seed, trace=trace)
    rng = sim.rng_for("fault-schedule")
    broker = Broker(sim)
    broker.create_topic("orders", rng.randint(1, 3))
    broker.create_topic("orders.dlq", 1)
    n = rng.randint(8, 20)
    times = sorted(round(rng.uniform(0.0, 3000.0), 1) for _ in range(n))
    kinds = [rng.choices(("ok", "poison", "flaky"), (0.75, 0.1, 0.15))[0] for _ in range(n)]
    fails = [rng.randint(1, 3) for _ in range(n)]
    outage = None
    if rng.random() < 0.5:
        start = rng.uniform(0.0, 2500.0)
        outage = (start, start + rng.uniform(200.0, OUTAGE_MAX_MS))
    tries: dict[str, int] = {}

    def work(event: Event) -> None:
        k = tries[event.id] = tries.get(event.id, 0) + 1
        now = sim.now
        if event.data["kind"] == "poison":
            raise PoisonError(f"{event.key}: the total is negative")
        if outage is not None and outage[0] <= now < outage[1]:
            raise ConnectionError(f"payment service down until {outage[1]:.0f} ms")
        if event.data["kind"] == "flaky" and k <= event.data["fails"]:
            raise TimeoutError(f"{event.key}: payment timed out (try {k})")

    def make(i: int, _rng: Any) -> tuple[str, str, dict[str, Any]]:
        return "OrderPlaced", f"order-{i}", {"kind": kinds[i - 1], "fails": fails[i - 1]}

    Producer(broker, "shop", "orders", Schedule(times), make=make)
    billing = _LearnerBilling(broker, work, decide)
    sim.run(until=times[-1] + 10_000.0)
    keep = sim.trace if trace else None
    if billing.bad_answer is not None:
        return Breach(seed, "decide answers a wait or None", "error", billing.bad_answer, keep)
    events = {e.id: e for p in broker.topics["orders"].partitions for e in p.log}
    dead = {r.event.id: r for r in billing.dead_letters}
    for eid, record in dead.items():
        if events[eid].data["kind"] != "poison":
            why = f"{record.error_type} after {record.attempts} attempt(s)"
            return Breach(
                seed,
                "an order that can succeed is handled",
                "gave-up",
                f"{events[eid].key} was dead-lettered ({why}), though it would have succeeded",
                keep,
            )
        held = record.dead_lettered_at - billing.first_failure.get(eid, record.dead_lettered_at)
        if held > POISON_HOLD_MAX_MS:
            return Breach(
                seed,
                "a poison order is dead-lettered soon",
                "slow",
                f"poison {events[eid].key} held its partition {held:.0f} ms",
                keep,
            )
    if billing.group.lag() > 0:
        stuck = next(
            (e for e in events.values() if e.data["kind"] == "poison" and e.id not in dead), None
        )
        what = f"{stuck.key} (poison) still blocks its partition" if stuck else "orders wait"
        return Breach(seed, "no partition blocked", "blocked", f"{what} at the end", keep)
    return None
