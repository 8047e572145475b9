"""A consumer slower than its producer, on each broker: what the producer sees (notebook 04).

Each broker's rule, from its documentation:
- Kafka: a producer blocks only on its own buffer.memory, for up to max.block.ms
  (kafka.apache.org/documentation/#producerconfigs_buffer.memory); a slow group lags and
  retention.ms deletes events read or not (#topicconfigs_retention.ms).
- RabbitMQ: x-max-length with x-overflow drop-head (default: the oldest ready message is
  dropped or dead-lettered) or reject-publish (the publisher gets a basic.nack);
  unacknowledged messages do not count (www.rabbitmq.com/docs/maxlength).
- Service Bus: past MaxSizeInMegabytes incoming messages are rejected and the sender gets
  QuotaExceededException (learn.microsoft.com/azure/service-bus-messaging/service-bus-quotas).
- SQS: the number of messages a queue can store is unlimited
  (docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-queues.html).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evtlib.course.scenarios.delivery import (
    SETUPS,
    TIMEOUTS,
    backpressure,
    slow_email,
    time_blocked,
)
from evtlib.course.scenarios.guarantees import producer_experience, three_timeouts
from evtlib.sim import Simulation


def test_per_broker_the_producer_is_told_or_not_and_never_waits():
    """Kafka and SQS accept all 100 orders; drop-head accepts and drops; reject-publish and the
    Service Bus quota refuse, and the producer counts each refusal; nobody blocks."""
    infos = producer_experience()
    assert list(infos) == list(SETUPS)
    got = {s: (i["accepted"], i["refused"], i["dropped"], i["shipped"]) for s, i in infos.items()}
    assert got == {
        "kafka": (100, 0, 0, 100),
        "rabbitmq drop-head": (100, 0, 41, 59),
        "rabbitmq reject-publish": (59, 41, 0, 59),
        "service-bus": (58, 42, 0, 58),
        "sqs": (100, 0, 0, 100),
    }
    assert all(i["blocked_ms"] == 0.0 for i in infos.values())
    assert infos["kafka"]["peak_backlog"] == infos["sqs"]["peak_backlog"] == 52
    # x-max-length counts ready messages: the bounded queues hold about 10 (plus in flight)
    assert all(infos[s]["peak_backlog"] <= 12 for s in SETUPS[1:4])


def test_kafka_retention_deletes_what_a_slow_group_has_not_read_and_nobody_is_told():
    """A retention shorter than the lag deletes unread orders; the producer saw only successes."""
    info = backpressure("kafka", retention_ms=1000).info
    assert info["refused"] == 0 and info["accepted"] == 100
    assert info["deleted_unread"] > 0
    assert info["shipped"] + info["deleted_unread"] == 100


def test_a_rabbitmq_drop_is_traced_with_the_reason_maxlen():
    """drop-head leaves a dead-lettered record with reason maxlen for each dropped order."""
    run = backpressure("rabbitmq drop-head")
    dropped = [r for r in run.trace.filter(kind="dead-lettered") if r.detail.startswith("maxlen")]
    assert len(dropped) == run.info["dropped"] == 41
    assert run.producer.rejected == 0


@settings(max_examples=25, deadline=None)
@given(
    setup=st.sampled_from(SETUPS),
    service_ms=st.floats(5, 80),
    bound=st.integers(1, 30),
)
def test_every_order_sent_is_shipped_dropped_deleted_or_refused_once(setup, service_ms, bound):
    """Conservation: accepted + refused = sent; accepted = shipped + dropped + deleted unread;
    the backlog is never negative and ends at zero."""
    info = backpressure(setup, service_ms=service_ms, bound=bound, orders=40).info
    assert info["accepted"] + info["refused"] == 40
    assert info["accepted"] == info["shipped"] + info["dropped"] + info["deleted_unread"]
    assert min(n for _, n in info["backlog"]) >= 0 and info["backlog"][-1][1] == 0
    if setup in ("kafka", "sqs"):
        assert info["refused"] == info["dropped"] == 0


def test_time_blocked_pairs_each_blocked_record_with_its_unblocked_one():
    """The RabbitMQ adapter traces a blocked connection as blocked, then unblocked."""
    sim = Simulation(0)
    sim.trace.record(10.0, "blocked", "shop", "e1", "orders")
    sim.trace.record(35.0, "unblocked", "shop", "e1", "orders")
    sim.trace.record(50.0, "blocked", "other", "e2", "orders")
    sim.trace.record(60.0, "blocked", "shop", "e3", "orders")
    sim.trace.record(61.5, "unblocked", "shop", "e3", "orders")
    assert time_blocked(sim.trace, "shop") == 26.5
    assert time_blocked(sim.trace, "nobody") == 0.0


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"setup": "kafka-capacity"}, "setup must be one of"),
        ({"setup": "sqs", "retention_ms": 100}, "retention_ms applies to setup='kafka'"),
        ({"bound": 0}, "bound must be"),
        ({"service_ms": 0}, "service_ms must be"),
    ],
)
def test_bad_backpressure_arguments_name_the_rule(kwargs, words):
    """Each bad argument is refused with its name and the rule."""
    with pytest.raises(ValueError, match=words):
        backpressure(**kwargs)


def test_each_broker_times_out_its_own_thing():
    """SQS (VisibilityTimeout) and Service Bus (LockDuration) redeliver only the late message;
    RabbitMQ (consumer_timeout, up to 4.2) closes the channel and requeues every unacked
    message, a message that was not late too (www.rabbitmq.com/docs/consumers#acknowledgement-
    timeout); Kafka evicts the member after max.poll.interval.ms and its late commit fails
    (kafka.apache.org/documentation/#consumerconfigs_max.poll.interval.ms)."""
    rows = three_timeouts()
    assert {p: r["timeout"] for p, r in rows.items()} == TIMEOUTS
    for profile in ("sqs", "service-bus", "kafka"):
        assert rows[profile]["redelivered"] == rows[profile]["late"]
    rabbit = rows["rabbitmq"]
    assert set(rabbit["late"]) < set(rabbit["redelivered"])
    assert "closed the channel" in rabbit["did"]
    assert "max.poll.interval.ms" in rows["kafka"]["did"]


def test_slow_email_on_kafka_is_an_eviction_whose_late_commit_fails():
    """The slow first attempt still sends its e-mail; the commit fails; the event comes again."""
    run = slow_email()
    kinds = [r.kind for r in run.trace]
    assert "evicted" in kinds and "commit-rejected" in kinds and "timeout" not in kinds
    failed = run.trace.filter(kind="commit-rejected")[0]
    assert "CommitFailedException" in failed.detail
    twice = sorted({k for k in run.effects if run.effects.count(k) > 1})
    assert twice == ["order-11", "order-2"]
