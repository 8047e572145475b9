"""Sagas: orchestration, choreography, compensation, isolation and the invariants they keep."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evtlib import Broker, Event, NetworkFaults, Simulation, pause
from evtlib.patterns.saga import (
    FINAL_STATES,
    Choreography,
    FailurePlan,
    NaiveSequence,
    Participant,
    SagaDefinition,
    SagaLog,
    SagaOrchestrator,
    Step,
)
from evtlib.patterns.saga.scenarios import (
    Shop,
    classify,
    isolation_scenario,
    order_saga,
    run_order,
    saga_sweep,
)

# -- builders ----------------------------------------------------------------------


def _local(ledger: list, step: str, phase: str):
    """A local transaction that writes ``(saga_id, step, phase)`` to ``ledger``."""

    def fn(data):
        ledger.append((data["saga_id"], step, phase))

    fn.__name__ = f"{'do' if phase == 'action' else 'undo'}_{step}"
    return fn


def make_definition(kinds: list[str], ledger: list, retries: int = 2) -> SagaDefinition:
    """A saga with one step per kind in ``kinds``, each recording its effects in ``ledger``."""
    steps = []
    for i, kind in enumerate(kinds):
        name = f"s{i}"
        undo = _local(ledger, name, "compensation") if kind == "compensatable" else None
        steps.append(Step(name, _local(ledger, name, "action"), undo, kind=kind, retries=retries))
    return SagaDefinition("test", steps)


def effects_of(ledger: list, saga_id: str) -> list[tuple[str, str]]:
    return [(s, p) for sid, s, p in ledger if sid == saga_id]


def check_saga(definition: SagaDefinition, saga, effects: list[tuple[str, str]]) -> None:
    """Invariant 10: final, never half-done, compensated once in reverse, nothing after the pivot."""
    assert saga.state in FINAL_STATES, saga
    assert len(effects) == len(set(effects)), f"an effect happened twice: {effects}"
    outcome = classify(definition, effects, flagged=saga.state == "needs-attention")
    assert outcome != "half-done", (saga, effects)
    if saga.state == "completed":
        assert outcome == "completed", (saga, effects)
    if saga.state == "compensated":
        assert outcome == "rolled back", (saga, effects)
    actions = [s for s, p in effects if p == "action"]
    undone = [s for s, p in effects if p == "compensation"]
    assert undone == actions[::-1][: len(undone)], f"not in reverse order: {effects}"
    if undone:
        kinds = {s.name: s.kind for s in definition.steps}
        assert all(kinds[s] == "compensatable" for s in actions), f"ran past the pivot: {effects}"
    states, transitions = definition.state_machine()
    assert saga.path[0] == "started" and set(saga.path) <= set(states)
    assert set(saga.transitions) <= set(transitions), saga.transitions
    assert [t[1] for t in saga.transitions] == saga.path[1:]


shapes = st.tuples(st.integers(0, 3), st.booleans(), st.integers(0, 2)).filter(
    lambda t: sum((t[0], t[1], t[2])) > 0
)


@st.composite
def scenarios(draw):
    """A saga shape, a random failure plan over its steps and compensations, and network faults."""
    n_comp, pivot, n_retr = draw(shapes)
    kinds = ["compensatable"] * n_comp + ["pivot"] * pivot + ["retriable"] * n_retr
    plans = []
    for i, kind in enumerate(kinds):
        for compensation in (False, True) if kind == "compensatable" else (False,):
            choice = draw(st.sampled_from(["ok", "times", "always", "probability"]))
            if choice == "times":
                plans.append(
                    FailurePlan(f"s{i}", times=draw(st.integers(1, 4)), compensation=compensation)
                )
            elif choice == "always":
                plans.append(FailurePlan(f"s{i}", times=None, compensation=compensation))
            elif choice == "probability":
                plans.append(
                    FailurePlan(f"s{i}", times=None, probability=0.5, compensation=compensation)
                )
    faults = NetworkFaults(
        duplicate=draw(st.sampled_from([0.0, 0.2, 0.5, 1.0])),
        delay=draw(st.sampled_from([0.0, 0.0, 0.1])),
        extra=1500,
    )
    return kinds, plans, faults, draw(st.integers(1, 3)), draw(st.integers(0, 10_000))


def _setup(kinds, faults, seed):
    ledger: list = []
    sim = Simulation(seed)
    broker = Broker(sim, latency=1.0, faults=faults)
    return ledger, sim, broker, make_definition(kinds, ledger)


# -- the running example -------------------------------------------------------------


def test_happy_order_completes():
    """Without failures the order reserves, charges and ships, and its path says so."""
    run = run_order()
    saga = run.sagas[0]
    assert saga.state == "completed"
    assert saga.path == ["started", "stock", "payment", "shipping", "completed"]
    assert run.shop.stock == 9 and run.shop.shipments == {saga.id: "booked"}
    assert saga.data["shipment"] == f"ship-{saga.id}"


@pytest.mark.parametrize("mode", ["orchestration", "choreography"])
def test_payment_failure_releases_stock(mode):
    """A failed pivot compensates the reserved stock and ships nothing."""
    run = run_order(mode, failures=[FailurePlan("payment")])
    saga = run.sagas[0]
    assert saga.state == "compensated"
    assert saga.path == ["started", "stock", "payment", "compensate stock", "compensated"]
    assert run.shop.stock == 10 and not run.shop.payments and not run.shop.shipments
    assert saga.compensated == ["stock"]


@pytest.mark.parametrize("mode", ["orchestration", "choreography"])
def test_shipping_is_retried_until_it_succeeds(mode):
    """A retriable step after the pivot is tried again, not compensated."""
    run = run_order(mode, failures=[FailurePlan("shipping", times=3)])
    assert run.sagas[0].state == "completed"
    assert run.shop.shipments and run.shop.stock == 9


@pytest.mark.parametrize("mode", ["orchestration", "choreography"])
def test_compensation_that_keeps_failing_needs_attention(mode):
    """A compensation that fails after all its retries is surfaced, not dropped."""
    run = run_order(
        mode, failures=[FailurePlan("payment"), FailurePlan("stock", times=None, compensation=True)]
    )
    saga = run.sagas[0]
    assert saga.state == "needs-attention"
    assert saga.path[-2:] == ["compensate stock", "needs-attention"]
    assert "stock compensation" in saga.error
    assert run.shop.stock == 9  # still reserved: a person must look


def test_naive_twin_leaves_half_done_orders():
    """The sequence without compensation keeps the stock of a declined payment."""
    run = run_order("naive", failures=[FailurePlan("payment")])
    assert run.sagas[0].state == "failed"
    assert run.shop.stock == 9 and not run.shop.payments
    assert run.outcomes() == ["half-done"]


def test_orchestration_and_choreography_publish_their_vocabulary():
    """Orchestration sends commands and replies; choreography publishes past-tense facts."""
    run = run_order("orchestration")
    assert [e.type for e in run.broker.events("inventory.commands")] == ["reserve_stock"]
    assert {e.type for e in run.broker.events("order-orchestrator.replies")} == {"CommandSucceeded"}
    run = run_order("choreography", failures=[FailurePlan("payment")])
    types = [e.type for e in run.broker.events("order.events")]
    assert types == ["OrderPlaced", "StockReserved", "PaymentFailed", "StockReleased"]
    events = run.broker.events("order.events")
    assert all(e.correlation_id == events[0].correlation_id for e in events)
    assert [e.causation_id for e in events[1:]] == [e.id for e in events[:-1]]


def test_saga_log_replays_to_the_same_state():
    """The orchestrator's JSON log alone rebuilds each saga's state and path."""
    run = run_order(orders=3, failures=[FailurePlan("payment"), FailurePlan("shipping", times=2)])
    log: SagaLog = run.coordinator.log
    rebuilt = log.replay()
    for saga in run.sagas:
        assert rebuilt[saga.id]["state"] == saga.state
        assert rebuilt[saga.id]["path"] == saga.path
        assert rebuilt[saga.id]["completed"] == saga.completed
    assert all(line.startswith("{") for line in log.to_jsonl().splitlines())


def test_slow_pivot_is_asked_again_and_charged_once():
    """A reply that misses the timeout makes the orchestrator ask again; the participant de-duplicates."""
    sim = Simulation(1)
    broker = Broker(sim, latency=1.0)
    shop = Shop()
    definition = order_saga(shop, timeout=50)
    Participant(
        broker,
        "inventory",
        {"reserve_stock": shop.reserve_stock, "release_stock": shop.release_stock},
    )
    payments = Participant(
        broker, "payments", {"charge_payment": shop.charge_payment}, service_time=80
    )
    Participant(broker, "shipping", {"book_shipping": shop.book_shipping})
    orch = SagaOrchestrator(broker, definition)
    saga = orch.start({"qty": 1, "total": 5})
    sim.run()
    assert saga.state == "completed"
    assert ("payment", "payment", "retry") in saga.transitions
    assert [e for e in shop.ledger if e[1] == "payment"] == [(saga.id, "payment", "action")]
    assert payments.duplicates >= 1 and orch.ignored >= 1


def test_step_that_times_out_is_compensated_even_if_it_ran_late():
    """A compensatable step with no answer is compensated; its late effect is undone exactly once."""
    sim = Simulation(2)
    broker = Broker(sim, latency=1.0)
    shop = Shop()
    definition = order_saga(shop, retries=2, timeout=20)
    inventory = definition.participants(broker)[0]
    pause(sim, inventory, at=0, duration=60)
    orch = SagaOrchestrator(broker, definition)
    sim.schedule(1, orch.start, {"qty": 1})
    sim.run()
    (saga,) = orch.sagas.values()
    assert saga.state == "compensated"
    assert ("stock", "compensate stock", "timed out") in saga.transitions
    assert effects_of(shop.ledger, saga.id) == [("stock", "action"), ("stock", "compensation")]
    assert shop.stock == 10


def test_pivot_that_never_answers_needs_attention():
    """Nobody can tell whether an unanswered pivot ran, so the saga asks for a person."""
    sim = Simulation(3)
    broker = Broker(sim, latency=1.0)
    ledger: list = []
    definition = SagaDefinition(
        "pay", [Step("pay", _local(ledger, "pay", "action"), kind="pivot", retries=1, timeout=5)]
    )
    definition.participants(broker, service_time=30.0)
    saga = SagaOrchestrator(broker, definition).start()
    sim.run()
    assert saga.state == "needs-attention"
    assert saga.transitions[-1] == ("pay", "needs-attention", "timed out")
    assert ledger == [(saga.id, "pay", "action")]  # it did run: exactly why a person must look


def test_compensation_is_idempotent_under_redelivery():
    """The same compensation command delivered many times releases the stock once."""
    sim = Simulation(4)
    broker = Broker(sim, latency=1.0, faults=NetworkFaults(duplicate=1.0))
    shop = Shop(stock=5)
    (inventory,) = [p for p in order_saga(shop).participants(broker) if p.name == "inventory"]
    broker.create_topic("replies")

    def command(n, ctype, phase):
        data = {
            "saga_id": "saga-9",
            "step": "stock",
            "phase": phase,
            "command_id": f"saga-9/stock/{phase}/1",
            "reply_to": "replies",
            "data": {"saga_id": "saga-9", "qty": 2},
        }
        return Event(id=f"cmd-{n}", type=ctype, time=sim.now, key="saga-9", data=data)

    broker.publish("inventory.commands", command(1, "reserve_stock", "action"))
    for n in range(2, 6):
        broker.publish("inventory.commands", command(n, "release_stock", "compensation"))
    sim.run()
    assert shop.stock == 5
    assert shop.ledger == [("saga-9", "stock", "action"), ("saga-9", "stock", "compensation")]
    replies = broker.events("replies")
    assert len(replies) == 10 and all(r.data["ok"] for r in replies)
    assert len({r.id for r in replies if r.data["phase"] == "compensation"}) == 1
    assert inventory.duplicates == 8


def test_isolation_anomaly_and_semantic_lock():
    """Without a lock B is told sold out while stock comes back; with PENDING B is served."""
    dirty = isolation_scenario(semantic_lock=False)
    assert dirty["turned_away_with_stock_free"] and dirty["stock_left"] == 1
    assert dirty["reads"][1]["free"] == 0
    assert [s["state"] for s in dirty["sagas"]] == ["compensated", "compensated"]
    locked = isolation_scenario(semantic_lock=True)
    assert locked["b_served"] and not locked["turned_away_with_stock_free"]
    assert locked["reads"][1] == {"saga_id": "saga-000002", "free": 0, "pending": 1}
    assert "PENDING" in locked["sagas"][1]["error"]
    assert locked["sagas"][-1]["path"][-3:] == ["confirm", "shipping", "completed"]


def test_state_machine_of_the_order_saga():
    """The definition's state machine lists every state and labelled edge a diagram needs."""
    states, transitions = order_saga(Shop()).state_machine()
    assert states == [
        "started",
        "stock",
        "payment",
        "shipping",
        "compensate stock",
        "completed",
        "compensated",
        "needs-attention",
    ]
    for edge in [
        ("started", "stock", "start"),
        ("stock", "compensated", "failed"),
        ("payment", "compensate stock", "failed"),
        ("compensate stock", "compensated", "ok"),
        ("compensate stock", "needs-attention", "gave up"),
        ("shipping", "completed", "ok"),
        ("shipping", "needs-attention", "gave up"),
    ]:
        assert edge in transitions
    assert all(isinstance(t, tuple) and len(t) == 3 for t in transitions)


def test_runs_are_deterministic_and_reprs_readable():
    """The same seed gives the same trace; reprs show state, not addresses."""
    faults = NetworkFaults(duplicate=0.3)
    plans = [FailurePlan("payment", probability=0.5, times=None)]
    a = run_order(seed=5, orders=4, failures=plans, faults=faults)
    b = run_order(seed=5, orders=4, failures=plans, faults=faults)
    assert a.sim.trace.to_dicts() == b.sim.trace.to_dicts()
    objects = [
        a.definition,
        a.definition.steps[0],
        a.coordinator,
        a.coordinator.log,
        a.sagas[0],
        a.shop,
    ]
    objects += list(a.broker.consumers) + [FailurePlan("stock")]
    objects += [run_order("choreography").coordinator]
    for obj in objects:
        assert "0x" not in repr(obj), repr(obj)


def test_sweep_saga_never_half_done_naive_often():
    """Over 1,000 random fault schedules the saga never leaves a half-done order; the naive twin does."""
    tallies = saga_sweep(1000)
    for mode in ("orchestration", "choreography"):
        assert tallies[mode]["half-done"] == 0
        assert sum(tallies[mode].values()) == 1000
    assert tallies["naive"]["half-done"] > 100


# -- properties ------------------------------------------------------------------------


@settings(max_examples=250, deadline=None)
@given(scenarios())
def test_orchestration_invariants(scenario):
    """Under random failures and duplicates every orchestrated saga ends whole, never half-done."""
    kinds, plans, faults, n, seed = scenario
    ledger, sim, broker, definition = _setup(kinds, faults, seed)
    parts = definition.participants(broker, failures=plans)
    orch = SagaOrchestrator(broker, definition)
    sagas = [orch.start({"n": i}) for i in range(n)]
    sim.run()
    for saga in sagas:
        check_saga(definition, saga, effects_of(ledger, saga.id))
        replay = orch.log.replay()[saga.id]
        assert (replay["state"], replay["path"]) == (saga.state, saga.path)
    assert len(ledger) == sum(len(p.effects) for p in parts)


@settings(max_examples=250, deadline=None)
@given(scenarios())
def test_choreography_invariants(scenario):
    """Under random failures and duplicates every choreographed saga ends whole, never half-done."""
    kinds, plans, faults, n, seed = scenario
    ledger, sim, broker, definition = _setup(kinds, faults, seed)
    chor = Choreography(broker, definition, failures=plans)
    sagas = [chor.start({"n": i}) for i in range(n)]
    sim.run()
    for saga in sagas:
        check_saga(definition, saga, effects_of(ledger, saga.id))


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["orchestration", "choreography"]),
    st.integers(0, 10_000),
    st.sampled_from([0.5, 1.0]),
    st.integers(0, 4),
)
def test_compensations_idempotent_under_duplicates(mode, seed, dup, comp_failures):
    """However often the network duplicates, a declined order releases its stock exactly once."""
    plans = [FailurePlan("payment")]
    if comp_failures:
        plans.append(FailurePlan("stock", times=comp_failures, compensation=True))
    run = run_order(mode, seed=seed, orders=2, failures=plans, faults=NetworkFaults(duplicate=dup))
    for saga in run.sagas:
        releases = [e for e in run.shop.ledger if e == (saga.id, "stock", "compensation")]
        expected = 1 if comp_failures <= 3 else 0
        assert len(releases) == expected
        assert saga.state == ("compensated" if expected else "needs-attention")
    assert run.shop.stock == 10 - sum(s.state == "needs-attention" for s in run.sagas)


def test_naive_sequence_is_the_same_coordinator_with_one_hook_changed():
    """NaiveSequence only overrides on_failure."""
    assert set(NaiveSequence.__dict__) - {"__doc__", "__module__", "__qualname__"} == {"on_failure"}


# -- bad input ---------------------------------------------------------------------------


def _noop(data):
    return None


def _undo(data):
    return None


@pytest.mark.parametrize(
    "build, error, match",
    [
        (lambda: SagaDefinition("s", []), ValueError, "no steps"),
        (lambda: Step("a", _noop, compensation=42), TypeError, "compensation must be callable"),
        (lambda: Step("a", "not callable", _undo), TypeError, "action must be callable"),
        (lambda: Step("p", _noop, _undo, kind="pivot"), ValueError, "must not have a compensation"),
        (
            lambda: Step("r", _noop, _undo, kind="retriable"),
            ValueError,
            "must not have a compensation",
        ),
        (lambda: Step("c", _noop), ValueError, "needs a compensation"),
        (lambda: Step("a", _noop, _undo, kind="optional"), ValueError, "kind must be one of"),
        (
            lambda: SagaDefinition(
                "s", [Step("p1", _noop, kind="pivot"), Step("p2", _noop, kind="pivot")]
            ),
            ValueError,
            "2 pivots",
        ),
        (
            lambda: SagaDefinition(
                "s", [Step("r", _noop, kind="retriable"), Step("p", _noop, kind="pivot")]
            ),
            ValueError,
            "pivot step 'p' comes after retriable step 'r'",
        ),
        (
            lambda: SagaDefinition("s", [Step("p", _noop, kind="pivot"), Step("c", _noop, _undo)]),
            ValueError,
            "compensatable step 'c' comes after pivot",
        ),
        (
            lambda: Step("a", _noop, _undo, timeout=0),
            ValueError,
            "timeout must be a number of ms > 0",
        ),
        (lambda: Step("a", _noop, _undo, timeout=-5), ValueError, "timeout"),
        (lambda: Step("a", _noop, _undo, retries=-1), ValueError, "retries must be an int >= 0"),
        (
            lambda: SagaDefinition("s", [Step("a", _noop, _undo), Step("a", _noop, _undo)]),
            ValueError,
            "'a' appears twice",
        ),
        (
            lambda: order_saga(Shop()).check_failures([FailurePlan("paymnet")]),
            ValueError,
            "unknown step 'paymnet'",
        ),
        (
            lambda: order_saga(Shop()).check_failures([FailurePlan("payment", compensation=True)]),
            ValueError,
            "which has none",
        ),
        (lambda: FailurePlan("stock", times=0), ValueError, "times must be an int >= 1"),
        (lambda: FailurePlan("stock", probability=1.5), ValueError, "probability"),
        (lambda: run_order("sequential"), ValueError, "mode must be one of"),
        (lambda: run_order(failures=[FailurePlan("nope")]), ValueError, "unknown step 'nope'"),
        (
            lambda: SagaDefinition(
                "s",
                [
                    Step("a", _noop, _undo, participant="x"),
                    Step("b", _noop, _undo, participant="x"),
                ],
            ),
            ValueError,
            "distinct names",
        ),
        (lambda: SagaDefinition("s", [lambda d: None]), TypeError, "must be Step objects"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(build, error, match):
    """Every malformed saga, step or plan is refused with a message naming the problem."""
    with pytest.raises(error, match=match):
        build()


def test_participant_and_coordinators_refuse_bad_arguments():
    """Participants need handlers; coordinators need a broker and a definition."""
    sim = Simulation()
    broker = Broker(sim)
    with pytest.raises(ValueError, match="handlers must be a non-empty mapping"):
        Participant(broker, "p", {})
    with pytest.raises(TypeError, match="the handler for 'x' must be callable"):
        Participant(broker, "p", {"x": 3})
    definition = order_saga(Shop())
    with pytest.raises(TypeError, match="broker must be a Broker"):
        SagaOrchestrator(sim, definition)
    with pytest.raises(TypeError, match="definition must be a SagaDefinition"):
        Choreography(broker, [definition])
    with pytest.raises(ValueError, match="retry_delay must be >= 0"):
        SagaOrchestrator(broker, definition, retry_delay=-1)


# -- bad start data ----------------------------------------------------------------


def _runner(kind: str = "orchestration"):
    """A simulation and a saga runner (orchestrated with its participants, or choreographed)."""
    sim = Simulation(1)
    broker = Broker(sim)
    definition = make_definition(["compensatable", "pivot"], [])
    if kind == "choreography":
        return sim, Choreography(broker, definition)
    definition.participants(broker)
    return sim, SagaOrchestrator(broker, definition)


@pytest.mark.parametrize("kind", ["orchestration", "choreography"])
def test_start_with_data_that_is_not_a_mapping_names_the_parameter_and_the_rule(kind):
    """start("x") says data must be a mapping of JSON values, not a dict() error."""
    sim, runner = _runner(kind)
    with pytest.raises(TypeError, match=r"data must be a mapping .*JSON.*got 'x'"):
        runner.start("x")
    assert runner.sagas == {}


@pytest.mark.parametrize("kind", ["orchestration", "choreography"])
def test_start_with_a_value_json_cannot_hold_names_where_it_is(kind):
    """start({"x": object()}) names data['x'] and its type (no memory address)."""
    sim, runner = _runner(kind)
    with pytest.raises(TypeError, match=r"data must be a mapping of JSON values") as info:
        runner.start({"order": {"items": [1, object()]}})
    message = str(info.value)
    assert "data['order']['items'][1]" in message and "'object'" in message
    assert " at 0x" not in message
    with pytest.raises(TypeError, match=r"data\[1\]"):
        runner.start({1: "a str key is the rule"})


def test_a_bad_start_leaves_no_saga_behind():
    """A refused start registers nothing: no saga stays 'running' for ever, the next id is unchanged."""
    sim, orch = _runner()
    with pytest.raises(TypeError):
        orch.start({"x": object()})
    assert orch.sagas == {} and len(orch.log) == 0
    good = orch.start({"order_id": "o-1"})
    sim.run()
    assert list(orch.sagas) == [good.id] == ["saga-000001"]
    assert good.state == "completed"
    assert orch.outcomes()["running"] == 0


def test_a_refused_saga_constructor_registers_no_name():
    """Participants, services, monitors and coordinators check everything before taking a name."""
    sim = Simulation(1)
    broker = Broker(sim)
    definition = make_definition(["compensatable", "pivot"], [])
    with pytest.raises(TypeError, match=r"failures must be FailurePlan objects, got 1"):
        Participant(broker, "s0", {"do_s0": print}, failures=[1])
    Participant(broker, "s0", {"do_s0": print})
    with pytest.raises(TypeError, match=r"on_end must be callable"):
        Choreography(broker, definition, on_end=5)
    with pytest.raises(TypeError, match=r"name must be a non-empty str, got 5"):
        Choreography(broker, definition, name=5)
    Choreography(Broker(Simulation(2)), definition)
    with pytest.raises(TypeError, match=r"name must be a non-empty str, got 5"):
        SagaOrchestrator(broker, definition, name=5)
    assert "5.replies" not in broker.topics
    SagaOrchestrator(broker, definition)


@pytest.mark.parametrize("kind", ["orchestration", "choreography"])
def test_a_saga_started_by_an_event_carries_its_correlation_id_and_causal_chain(kind):
    """Every message of the saga carries the cause's correlation id; each names the event it reacts to."""
    sim, runner = _runner(kind)
    placed = Event(id="evt-order", type="OrderPlaced", time=0.0, source="orders", key="o-1")
    saga = runner.start({"order_id": "o-1"}, cause=placed)
    sim.run()
    assert saga.state == "completed"
    assert (saga.correlation_id, saga.cause) == ("evt-order", "evt-order")
    events = [e for t in runner.broker.topics for e in runner.broker.events(t)]
    assert events and all(e.correlation_id == "evt-order" for e in events)
    by_id = {e.id: e for e in events}
    for e in events:  # every chain leads back to the order, with no gap
        hops = 0
        while e.causation_id != "evt-order":
            e, hops = by_id[e.causation_id], hops + 1
            assert hops < len(events)
    with pytest.raises(TypeError, match=r"cause must be the Event that started the saga.*got 'x'"):
        runner.start({"order_id": "o-2"}, cause="x")


def test_a_saga_started_without_a_cause_correlates_by_its_own_id():
    """Without a cause the saga's id is the correlation id, as before; the commands chain on the replies."""
    sim, orch = _runner()
    saga = orch.start({"order_id": "o-1"})
    sim.run()
    assert (saga.correlation_id, saga.cause) == (saga.id, None)
    commands = [e for e in orch.broker.events("s0.commands")]
    assert commands[0].causation_id is None and commands[0].correlation_id == saga.id


@settings(max_examples=100, deadline=None)
@given(scenarios(), st.sampled_from(["orchestration", "choreography"]))
def test_every_message_of_a_caused_saga_traces_back_to_its_cause(scenario, mode):
    """Under random failures and duplicates: one correlation id per saga, no causation gap."""
    kinds, plans, faults, n, seed = scenario
    ledger, sim, broker, definition = _setup(kinds, faults, seed)
    if mode == "orchestration":
        definition.participants(broker, failures=plans)
        runner = SagaOrchestrator(broker, definition)
    else:
        runner = Choreography(broker, definition, failures=plans)
    causes = [
        Event(id=f"evt-order-{i}", type="OrderPlaced", time=0.0, source="orders", key=f"o-{i}")
        for i in range(n)
    ]
    sagas = [runner.start({"n": i}, cause=c) for i, c in enumerate(causes)]
    sim.run()
    events = {e.id: e for t in broker.topics for e in broker.events(t)}
    by_cause = {c.id: c for c in causes}
    assert events  # the saga sent something
    for e in events.values():
        assert e.correlation_id in by_cause, e  # every message belongs to one order's story
        assert e.causation_id == e.correlation_id or e.causation_id in events, e
        hops, cur = 0, e  # and its chain of causes leads back to that order, without a gap
        while cur.causation_id != cur.correlation_id:
            cur, hops = events[cur.causation_id], hops + 1
            assert cur.correlation_id == e.correlation_id and hops <= len(events)
    assert [s.correlation_id for s in sagas] == [c.id for c in causes]
