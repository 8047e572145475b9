"""The flow graph mirrors the running system; the player draws one step of it."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # before pyplot: draw to PNG, no display needed

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from _viz_helpers import save, shop  # noqa: E402

from evtlib.viz import draw_flow, flow_graph, render_step, trace_graph  # noqa: E402
from evtlib.viz.flowgraph import layered_layout  # noqa: E402


def _node_points(ax) -> int:
    return sum(len(c.get_offsets()) for c in ax.collections if c.get_sizes()[0] == 260)


def test_graph_has_every_part_of_the_system():
    """Producer, topics (one a DLQ), partitions, two groups, three consumers, one view."""
    sim, broker = shop(10)
    sim.run(until=150)
    g = flow_graph(broker)
    kinds = {}
    for _, d in g.nodes(data=True):
        kinds[d["kind"]] = kinds.get(d["kind"], 0) + 1
    assert kinds == {
        "producer": 1,
        "topic": 1,
        "dlq": 1,
        "partition": 4,
        "group": 2,
        "consumer": 3,
        "readmodel": 1,
    }
    # producer->topic, 4 topic->partition, 3 partitions x 2 groups, 3 group->consumer, 1 view
    assert g.number_of_edges() == 1 + 4 + 6 + 3 + 1
    assert g.nodes["consumer:billing-2"]["alive"] is False
    assert g.nodes["consumer:billing-1"]["alive"] is True
    waiting = sum(d["waiting"] for _, v, d in g.edges(data=True) if v == "group:billing")
    assert waiting == sum(st.waiting for st in broker.groups["billing"].states.values())
    assert g.nodes["group:billing"]["lag"] == broker.groups["billing"].lag()


def test_layout_is_layered_left_to_right_and_deterministic():
    """Each kind has its column; two builds give the same positions."""
    sim, broker = shop(10)
    sim.run()
    g = flow_graph(broker)
    pos = layered_layout(g)
    assert pos == layered_layout(flow_graph(broker))
    xs = {d["kind"]: pos[n][0] for n, d in g.nodes(data=True)}
    assert (
        xs["producer"]
        < xs["topic"]
        < xs["partition"]
        < xs["group"]
        < xs["consumer"]
        < xs["readmodel"]
    )


def test_draw_flow_draws_every_node_edge_and_the_crash():
    """One marker per node, one arrow per edge, a red X on the crashed consumer."""
    sim, broker = shop(10)
    sim.run(until=150)
    g = flow_graph(broker)
    ax = draw_flow(broker)
    assert _node_points(ax) == g.number_of_nodes()
    arrows = [t.arrow_patch for t in ax.texts if getattr(t, "arrow_patch", None)]
    assert len(arrows) == g.number_of_edges()
    xs = [c for c in ax.collections if c.get_sizes()[0] == 200]
    assert len(xs) == 1 and len(xs[0].get_offsets()) == 1
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "crashed" in legend and "readmodel" in legend
    texts = [t.get_text() for t in ax.texts]
    assert any("(crashed)" in t for t in texts)
    save(ax.figure, "flow_crash")
    plt.close(ax.figure)


def test_snapshot_at_an_earlier_time_reads_the_history():
    """Before the crash (t=50) nobody is down and nothing is published yet."""
    sim, broker = shop(10)
    sim.run()
    g = flow_graph(broker, at=50)
    assert all(d.get("alive", True) for _, d in g.nodes(data=True))
    assert all(d.get("end", 0) == 0 for _, d in g.nodes(data=True))


def test_trace_graph_needs_only_the_trace():
    """Publishers, topics, partitions and receivers, read from the records."""
    sim, _ = shop(10)
    sim.run()
    g = trace_graph(sim.trace)
    names = {d["name"] for _, d in g.nodes(data=True)}
    assert {"shop", "orders", "billing-1", "totals"} <= names
    assert "billing-2" not in names  # it crashed before receiving anything


def test_render_step_titles_the_sentence_and_rings_the_actors():
    """Step k's sentence is the title; its actor and partition are highlighted."""
    sim, broker = shop(10)
    sim.run()
    k = next(i for i, r in enumerate(sim.trace) if r.kind == "delivered")
    record = sim.trace[k]
    ax = render_step(sim.trace, k, broker)
    assert record.sentence() in ax.get_title(loc="left")
    rings = [c for c in ax.collections if c.get_sizes()[0] == 560]
    # consumer, its group, the topic and the partition
    assert len(rings) == 1 and len(rings[0].get_offsets()) == 4
    save(ax.figure, "player_step")
    plt.close(ax.figure)
    ax = render_step(sim, -1)  # without a broker: the graph from the trace
    assert sim.trace[-1].sentence() in ax.get_title(loc="left")
    plt.close(ax.figure)
    with pytest.raises(IndexError, match="step must be"):
        render_step(sim.trace, len(sim.trace))


def test_step_player_is_a_play_button_a_slider_and_an_output():
    """The widget wraps render_step; the slider redraws only when released."""
    import ipywidgets as widgets

    from evtlib.viz import step_player

    sim, broker = shop(5)
    sim.run()
    box = step_player(sim.trace, broker)
    controls, out = box.children
    play, slider = controls.children
    assert isinstance(play, widgets.Play) and isinstance(out, widgets.Output)
    assert slider.continuous_update is False and slider.max == len(sim.trace) - 1
    slider.value = 3  # runs the callback: it must not raise
    plt.close("all")


# -- the queue family (profiles rabbitmq, sqs, sqs-fifo, service-bus) --------------------


def _queue_shop(profile: str, settings: dict | None = None, *, until: float | None = None):
    """Eight orders on a queue profile, one of them poison; billing (two members) and shipping."""
    import evtlib as ev

    sim = ev.Simulation(seed=0)
    broker = ev.Broker(sim, profile=profile, settings=settings or {})
    broker.create_topic("orders")

    def charge(event):
        if event.data["poison"]:
            raise ValueError("card number unreadable")

    ev.Consumer(broker, "billing-1", "orders", charge, group="billing", service_time=20)
    ev.Consumer(broker, "billing-2", "orders", charge, group="billing", service_time=60)
    ev.Consumer(broker, "shipping", "orders", group="shipping", service_time=5)
    for i in range(8):
        event = ev.Event(
            id=f"evt-{i}",
            type="OrderPlaced",
            time=i * 10.0,
            key=f"order-{i}",
            data={"poison": i == 2},
        )
        sim.schedule(i * 10.0, broker.publish, "orders", event)
    sim.run(until=until)
    return sim, broker


def test_a_queue_broker_has_a_queue_per_subscription_fed_by_the_topic():
    """Service Bus: the topic copies into two subscriptions; each has its $DeadLetterQueue."""
    sim, broker = _queue_shop("service-bus", {"MaxDeliveryCount": 3}, until=45)
    g = flow_graph(broker)
    kinds = {}
    for _, d in g.nodes(data=True):
        kinds[d["kind"]] = kinds.get(d["kind"], 0) + 1
    assert kinds == {"topic": 1, "queue": 2, "dlq": 2, "consumer": 3}
    assert g.has_edge("topic:orders", "queue:billing")
    assert g.has_edge("topic:orders", "queue:shipping")
    assert g.has_edge("queue:billing", "dlq:billing (dead letters)")
    assert g.has_edge("queue:billing", "consumer:billing-2")
    billing = broker.groups["billing"].stats()
    assert g.nodes["queue:billing"]["waiting"] == billing["waiting"]
    assert g.nodes["queue:billing"]["in_flight"] == billing["in_flight"] > 0
    held = sum(g.nodes[f"consumer:billing-{i}"]["in_flight"] for i in (1, 2))
    assert held == billing["in_flight"]  # every locked message has its holder
    assert g.nodes["consumer:billing-1"]["held_word"] == "locked"


def test_sqs_draws_a_dead_letter_queue_only_with_a_redrive_policy():
    """SQS has no dead-letter queue unless maxReceiveCount is configured."""
    _, plain = _queue_shop("sqs", until=45)
    assert not [n for n, d in flow_graph(plain).nodes(data=True) if d["kind"] == "dlq"]
    _, redrive = _queue_shop("sqs", {"maxReceiveCount": 3}, until=45)
    dlqs = [n for n, d in flow_graph(redrive).nodes(data=True) if d["kind"] == "dlq"]
    assert dlqs == ["dlq:billing (dead letters)", "dlq:shipping (dead letters)"]


@pytest.mark.parametrize(
    ("profile", "words"),
    [
        ("rabbitmq", ("exchange", "quorum queue", "unacked", "DLX")),
        ("sqs-fifo", ("SNS FIFO topic", "SQS FIFO queue", "in flight", "redrive policy")),
        ("service-bus", ("topic", "subscription", "locked", "$DeadLetterQueue")),
    ],
)
def test_draw_flow_names_each_queue_broker_in_its_own_words(profile, words):
    """Each profile's labels use its broker's terms; the broker's dead-lettering is counted."""
    settings = {"rabbitmq": {"x-delivery-limit": 2}, "sqs-fifo": {"maxReceiveCount": 3}}
    _, broker = _queue_shop(profile, settings.get(profile, {"MaxDeliveryCount": 3}))
    g = flow_graph(broker)
    ax = draw_flow(broker)
    assert _node_points(ax) == g.number_of_nodes()
    arrows = [t.arrow_patch for t in ax.texts if getattr(t, "arrow_patch", None)]
    assert len(arrows) == g.number_of_edges()
    dotted = [a for a in arrows if a.get_linestyle() in (":", "dotted")]
    assert len(dotted) == 2  # queue -> its dead-letter queue, one per subscription
    text = " ".join(t.get_text() for t in ax.texts)
    for word in words:
        assert word in text, (word, text)
    assert "1 moved by the broker" in text  # the poison order, dead-lettered by the broker
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["topic", "dead-letter queue", "queue", "consumer", "moved by the broker"]
    from evtlib.viz.describe import describe

    assert "one queue per subscription" in describe(ax.figure)
    save(ax.figure, f"flow_{profile}")
    plt.close(ax.figure)


def test_a_queue_broker_step_rings_the_consumers_queue():
    """render_step on a queue broker: the past snapshot draws, the step's queue is ringed."""
    sim, broker = _queue_shop("rabbitmq", {"x-delivery-limit": 2})
    k = next(i for i, r in enumerate(sim.trace) if r.kind == "redelivered")
    ax = render_step(sim.trace, k, broker=broker)
    rings = [c for c in ax.collections if c.get_sizes()[0] == 560]
    assert len(rings) == 1 and len(rings[0].get_offsets()) >= 2  # the consumer and its queue
    plt.close(ax.figure)


def test_queue_graph_colours_stay_apart_for_colour_blind_readers():
    """The roles of a queue graph differ by shape, and their colours stay apart under CVD."""
    from evtlib.viz.colorblind import VISIONS, min_distance
    from evtlib.viz.flowgraph import _SHAPES, _color

    roles = ["producer", "topic", "queue", "dlq", "consumer", "readmodel"]
    assert len({_SHAPES[r] for r in roles}) == len(roles)
    for vision in VISIONS:
        assert min_distance([_color(r) for r in roles], vision)[0] >= 10, vision


def test_a_queue_trace_alone_draws_a_queue_per_subscription():
    """Without the broker, a queue trace still shows producer -> topic -> queue -> consumers."""
    # One second: the poison order would otherwise come back for SQS's 4 days of retention.
    sim, _ = _queue_shop("sqs", until=1000)
    g = trace_graph(sim.trace)
    assert {n for n, d in g.nodes(data=True) if d["kind"] == "queue"} == {
        "queue:billing",
        "queue:shipping",
    }
    assert g.has_edge("topic:orders", "queue:billing")
    assert g.has_edge("queue:billing", "consumer:billing-2")
    ax = render_step(sim.trace, 5)  # no broker: read from the trace
    assert "queue" in [t.get_text() for t in ax.get_legend().get_texts()]
    plt.close(ax.figure)


def test_a_log_trace_graph_is_unchanged():
    """The log family's trace graph still has partitions and no queues."""
    sim, _ = shop(10)
    sim.run()
    kinds = {d["kind"] for _, d in trace_graph(sim.trace).nodes(data=True)}
    assert "partition" in kinds and "queue" not in kinds
