"""Notebook 03's scenarios: the same shop on kafka, rabbitmq, sqs, sqs-fifo and service-bus.

Each test's docstring names the broker behaviour it checks and where that broker documents it.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from evtlib.course.scenarios import brokers as b  # noqa: E402
from evtlib.viz.describe import describe  # noqa: E402

QUEUES = b.QUEUE_PROFILES


# -- 1. the late subscriber -------------------------------------------------------------------


def test_a_late_kafka_group_starts_at_the_end_unless_earliest():
    """Kafka auto.offset.reset defaults to latest (Kafka consumer configs); earliest replays."""
    assert b.late_subscriber("kafka") == {"before it subscribed": 0, "after it subscribed": 6}
    assert b.late_subscriber("kafka", "earliest") == {
        "before it subscribed": 6,
        "after it subscribed": 6,
    }


@pytest.mark.parametrize("profile", QUEUES)
def test_a_late_queue_subscription_gets_nothing_from_before(profile):
    """A queue gets only what is published after it exists (RabbitMQ, SQS/SNS, Service Bus)."""
    assert b.late_subscriber(profile) == {"before it subscribed": 0, "after it subscribed": 6}
    with pytest.raises(ValueError, match="keeps no history for new subscribers"):
        b.late_subscriber(profile, "earliest")


def test_late_subscribers_lists_every_profile():
    """Kafka twice (latest, earliest), then the four queue profiles."""
    assert list(b.late_subscribers()) == [
        "kafka, latest (default)",
        "kafka, earliest",
        *QUEUES,
    ]


# -- 2. retention ---------------------------------------------------------------------------------


def test_retention_after_five_days():
    """SQS MessageRetentionPeriod is 4 days (SQS API reference); Kafka retention.ms 7 days."""
    table = b.retention_table(5)
    assert table["sqs"]["handled by billing"] == table["sqs-fifo"]["handled by billing"] == 0
    for p in ("kafka", "rabbitmq", "service-bus"):
        assert table[p]["handled by billing"] == 10, p
    assert all(row["read by analytics"] == 10 for row in table.values())


def test_kafka_retention_deletes_what_was_read_or_not():
    """Kafka deletes by retention.ms whatever anyone read; a queue keeps what is unacknowledged."""
    table = b.retention_table(8)
    assert table["kafka"]["deleted before billing came back"] == 10
    assert table["rabbitmq"]["handled by billing"] == 10  # no x-message-ttl by default
    assert table["service-bus"]["handled by billing"] == 10  # DefaultMessageTimeToLive: MaxValue


def test_no_outage_loses_nothing_anywhere():
    """Within every retention, billing handles all ten orders."""
    assert all(r["handled by billing"] == 10 for r in b.retention_table(0).values())


# -- 3. competing consumers and order --------------------------------------------------------------


def test_without_an_ordering_feature_competing_consumers_reorder_a_key():
    """RabbitMQ, SQS standard and Service Bus share messages one by one: an order's events race."""
    for p in ("rabbitmq", "sqs", "service-bus"):
        assert b.order_run(p).counts["orders out of order"] > 0, p


@settings(max_examples=25, deadline=None)
@given(
    case=st.sampled_from(
        [("kafka", False), ("sqs-fifo", False), ("rabbitmq", True), ("service-bus", True)]
    ),
    consumers=st.integers(1, 6),
    seed=st.integers(0, 10_000),
)
def test_each_brokers_ordering_feature_keeps_every_key_in_order(case, consumers, seed):
    """Kafka partitions, SQS FIFO message groups, RabbitMQ single active consumer and Service Bus
    sessions keep one key's events in order, for any number of consumers and any timing."""
    profile, ordered = case
    assert b.order_run(profile, consumers, ordered, seed).counts["orders out of order"] == 0


def test_single_active_consumer_keeps_order_by_giving_everything_to_one():
    """RabbitMQ x-single-active-consumer: one member gets all the messages, so it is slower."""
    sac = b.order_run("rabbitmq", 3, True).counts
    fifo = b.order_run("sqs-fifo", 3).counts
    assert sac["busiest share"] == 100 and fifo["busiest share"] < 100
    assert sac["finished at"] > fifo["finished at"]


def test_order_table_has_a_row_per_profile_and_feature():
    """Seven rows: RabbitMQ and Service Bus with and without their ordering setting."""
    rows = b.order_table()
    assert [(r["profile"], r["order kept by"]) for r in rows] == [
        ("kafka", "partitions, key = order id"),
        ("rabbitmq", "default"),
        ("rabbitmq", "x-single-active-consumer"),
        ("sqs", "none (best effort)"),
        ("sqs-fifo", "message group = order id"),
        ("service-bus", "default"),
        ("service-bus", "RequiresSession"),
    ]


# -- 4. the three timeouts ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("profile", "timeout"),
    [("sqs", 30_000), ("service-bus", 60_000), ("rabbitmq", 1_800_000), ("kafka", 300_000)],
)
def test_each_profile_times_out_on_its_own_default(profile, timeout):
    """SQS VisibilityTimeout 30 s, Service Bus LockDuration 1 min, RabbitMQ consumer_timeout
    30 min, Kafka max.poll.interval.ms 5 min (each broker's documented default)."""
    run = b.timeout_run(profile)
    assert run.counts["timeout (ms)"] == timeout
    assert run.counts["handled twice"] == 1  # the hung order, by both members
    first = next(r for r in run.trace if r.kind in ("timeout", "evicted"))
    assert first.time == pytest.approx(timeout, abs=20)


def test_rabbitmq_requeues_every_unacked_message_of_the_channel():
    """RabbitMQ (up to 4.2): consumer_timeout closes the channel; all 3 unacked come back.
    SQS and Service Bus time out the one message."""
    assert b.timeout_run("rabbitmq").counts["redelivered"] == 3
    assert b.timeout_run("sqs").counts["redelivered"] == 1
    assert b.timeout_run("service-bus").counts["redelivered"] == 1


def test_kafka_evicts_the_member_and_its_late_commit_fails():
    """Kafka: past max.poll.interval.ms the member leaves the group; its commit then fails
    (CommitFailedException), and the partition's event is handled again by the new owner."""
    kinds = [r.kind for r in b.timeout_run("kafka").trace]
    assert "evicted" in kinds and "commit-rejected" in kinds and "rebalanced" in kinds


def test_draw_timeouts_stacks_one_timeline_per_profile_in_minutes():
    """Four panels, each titled with its setting and counts, in minutes, with alt text."""
    runs = {p: b.timeout_run(p) for p in ("sqs", "service-bus", "rabbitmq", "kafka")}
    fig = b.draw_timeouts(runs)
    assert len(fig.axes) == 4
    titles = [ax.get_title("left") for ax in fig.axes]
    assert titles[2].startswith("rabbitmq: consumer_timeout = 30 min; 3 redelivered")
    assert fig.axes[0].get_xlabel() == "simulated time (min)"
    assert "Panel 4" in describe(fig)
    plt.close(fig)


# -- 5. a full queue ---------------------------------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(limit=st.integers(1, 12), orders=st.integers(1, 30))
def test_a_full_queue_accounts_for_every_order(limit, orders):
    """Conservation on every profile: each order is accepted or refused; each accepted one is
    handled or dropped.  RabbitMQ drop-head drops the oldest, reject-publish nacks the newest
    (RabbitMQ "Queue Length Limit"); SQS and Kafka keep everything."""
    for p in b.PROFILES_COMPARED:
        for overflow in ("drop-head", "reject-publish"):
            r = b.full_queue(p, limit, overflow, orders)
            assert r["accepted"] + r["refused (publisher told)"] == orders
            assert r["handled"] + r["dropped (publisher not told)"] == r["accepted"]
    over = max(0, orders - limit)
    assert (
        b.full_queue("rabbitmq", limit, "drop-head", orders)["dropped (publisher not told)"] == over
    )
    assert (
        b.full_queue("rabbitmq", limit, "reject-publish", orders)["refused (publisher told)"]
        == over
    )
    assert b.full_queue("sqs", limit, orders=orders)["handled"] == orders
    assert b.full_queue("kafka", limit, orders=orders)["handled"] == orders


def test_service_bus_refuses_the_sender_past_its_quota():
    """Service Bus: past MaxSizeInMegabytes the sender gets QuotaExceeded (Service Bus quotas)."""
    r = b.full_queue("service-bus", 5, orders=12)
    assert r["refused (publisher told)"] > 0 and r["dropped (publisher not told)"] == 0


# -- 6. a poison message -----------------------------------------------------------------------------


def test_who_dead_letters_a_poison_message_by_default():
    """Service Bus MaxDeliveryCount 10; RabbitMQ quorum x-delivery-limit 20 (from 4.0: 21
    deliveries); SQS only with a redrive policy; Kafka never (no native DLQ)."""
    t = b.poison_table()
    assert t["service-bus"]["deliveries of the poison order"] == 10
    assert t["rabbitmq"]["deliveries of the poison order"] == 21
    for p in ("service-bus", "rabbitmq", "sqs, maxReceiveCount 5"):
        assert t[p]["dead-lettered by the broker"] == 1, p
    for p in ("kafka", "sqs", "sqs-fifo"):
        assert t[p]["dead-lettered by the broker"] == 0, p
    assert t["sqs, maxReceiveCount 5"]["deliveries of the poison order"] == 5
    assert t["kafka"]["good orders handled"] < 5  # head-of-line: its partition is blocked


def test_a_poison_limit_needs_a_broker_that_has_one():
    """Kafka has no delivery limit: asking for one is an error that says what to do instead."""
    with pytest.raises(ValueError, match="limit must be None on the kafka profile, got 3"):
        b.poison("kafka", 3)
    assert b.poison("service-bus", 3)["deliveries of the poison order"] == 3


def test_the_poison_broker_draws_its_dead_letter_queue():
    """The Service Bus run's flow graph shows the $DeadLetterQueue with the message in it."""
    from evtlib.viz import draw_flow

    ax = draw_flow(b.poison_broker("service-bus"))
    assert any("1 moved by the broker" in t.get_text() for t in ax.texts)
    plt.close(ax.figure)


# -- 7. duplicates -------------------------------------------------------------------------------


def test_deduplication_windows():
    """SQS FIFO drops a resend within 5 minutes; Service Bus with duplicate detection within
    10 minutes (off by default); outside the window both deliver it again."""
    assert b.duplicates("sqs-fifo", 1)["handled more than once"] == 0
    assert b.duplicates("sqs-fifo", 7)["handled more than once"] == 2
    assert b.duplicates("service-bus", 7)["handled more than once"] == 2
    assert b.duplicates("service-bus", 7, True)["handled more than once"] == 0
    assert b.duplicates("service-bus", 12, True)["handled more than once"] == 2
    for p in ("kafka", "rabbitmq"):
        assert b.duplicates(p, 1)["handled more than once"] == 2, p
    assert b.duplicates("sqs", 1)["handled more than once"] > 2  # SQS's own occasional copy


def test_duplicate_detection_is_a_service_bus_setting():
    """Turning detection on elsewhere is an error naming the broker that has it."""
    with pytest.raises(ValueError, match="RequiresDuplicateDetection is a Service Bus setting"):
        b.duplicates("rabbitmq", 1, True)


# -- the table, the pictures, bad input -----------------------------------------------------------


def test_keep_table_takes_its_defaults_from_the_profiles():
    """One header, one rule, eight questions; the numbers are the profiles' own defaults."""
    lines = b.keep_table().splitlines()
    assert len(lines) == 10
    text = b.keep_table()
    for piece in (
        "`retention.ms` 7 days",
        "`MessageRetentionPeriod` 4 days",
        "`VisibilityTimeout` 30 s",
        "`LockDuration` 1 min",
        "`consumer_timeout` 30 min",
        "`max.poll.interval.ms` 5 min",
        "`x-delivery-limit` 20",
        "`MaxDeliveryCount` 10",
        "`deduplication interval` 5 min",
        "window 10 min",
    ):
        assert piece in text, piece


@pytest.mark.parametrize(
    ("draw", "make"),
    [
        (b.draw_late_subscribers, b.late_subscribers),
        (b.draw_retention, b.retention_table),
        (b.draw_full_queue, b.full_queue_table),
        (b.draw_poison, b.poison_table),
        (b.draw_duplicates, b.duplicates_table),
    ],
)
def test_bar_pictures_name_what_they_count_and_carry_alt_text(draw, make):
    """Every bar picture has a y label naming its unit, a legend per profile and alt text."""
    tallies = make()
    ax = draw(tallies)
    assert ax.get_ylabel() and "runs" not in ax.get_ylabel()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(tallies)
    assert "Legend:" in describe(ax.figure)
    plt.close(ax.figure)


def test_draw_order_titles_the_run():
    """The order timeline's title names the profile, its feature and the counts."""
    ax = b.draw_order(b.order_run("service-bus", 3, True))
    assert ax.get_title("left").startswith("service-bus + RequiresSession, 3 consumers: 0 of 4")
    plt.close(ax.figure)


def test_runs_are_deterministic():
    """The same arguments give the same counts and the same trace."""
    a, c = b.order_run("sqs", 3, False, 5), b.order_run("sqs", 3, False, 5)
    assert a.counts == c.counts and a.trace.rows() == c.trace.rows()
    assert b.duplicates("sqs", 1) == b.duplicates("sqs", 1)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: b.late_subscriber("nats"), "profile must be one of"),
        (lambda: b.late_subscriber("kafka", "middle"), "offset_reset must be one of"),
        (lambda: b.retention("sqs", -1), "outage_days"),
        (lambda: b.order_run("sqs", 0), "consumers"),
        (lambda: b.timeout_run("sqs", 0.5), "stall"),
        (lambda: b.full_queue("rabbitmq", 5, "reject-publish-dlx"), "overflow must be one of"),
        (lambda: b.poison("sqs", 0), "limit"),
        (lambda: b.duplicates("sqs", 99), "resend_after_min"),
    ],
)
def test_bad_input_names_the_parameter(call, message):
    """Each scenario checks its arguments and names the one that is wrong."""
    with pytest.raises(ValueError, match=message):
        call()


# -- the build exercise ----------------------------------------------------------------------------


def test_the_build_exercise_accepts_each_brokers_ordering_setting():
    """Single active consumer (RabbitMQ), sessions (Service Bus), nothing for Kafka and SQS FIFO."""
    from evtlib.course.scenarios.build_check import sweep
    from evtlib.course.solutions import nb03

    assert sweep(b.order_schedule, nb03.ex4()).ok


def test_the_build_exercise_calls_a_partial_answer_a_near_miss():
    """Sessions but no single active consumer breaks only RabbitMQ schedules: a near miss."""
    from evtlib.course.scenarios.build_check import sweep
    from evtlib.course.solutions import nb03

    verdict = sweep(b.order_schedule, nb03.near_miss_ex4())
    assert verdict.near_miss and set(verdict.kinds) == {"reordered"}
    assert "rabbitmq" in verdict.first.detail and verdict.first.trace is not None
    everywhere_empty = sweep(b.order_schedule, lambda profile: {})
    assert not everywhere_empty.ok and not everywhere_empty.near_miss


def test_the_build_exercise_names_a_setting_the_profile_lacks():
    """A setting name from another broker is an error that lists the profile's own settings."""
    from evtlib.course.scenarios.build_check import sweep

    verdict = sweep(b.order_schedule, lambda profile: {"RequiresSession": True}, schedules=4)
    assert verdict.kinds.get("error") and "kafka profile's settings" in verdict.first.detail
    assert b.order_schedule(lambda profile: None, 0).kind == "error"
