"""Exactly-once, stated honestly: which duplicates each broker feature removes (notebook 08)."""

from __future__ import annotations

import pytest

from evtlib.course.scenarios.duplicate_sources import (
    REDELIVERY,
    REPUBLISH_1,
    REPUBLISH_15,
    RETRY,
    draw_duplicate_sources,
    duplicate_sources,
    transaction_demo,
)


@pytest.fixture(scope="module")
def cases():
    return {(c.source, c.setting): c for c in duplicate_sources()}


def test_kafkas_idempotent_producer_removes_its_own_retries(cases):
    """enable.idempotence (the default) drops the retried sends; switched off, they are charged."""
    on = cases[(RETRY, "kafka, idempotent producer (default)")]
    off = cases[(RETRY, "kafka, enable.idempotence=false")]
    assert on.extra_charges == 0 and on.removed_by_broker > 0
    assert off.extra_charges > 0 and off.removed_by_broker == 0


def test_a_new_send_of_the_same_event_is_not_a_producer_retry(cases):
    """Kafka's idempotent producer does not recognise the same event sent again later."""
    assert cases[(REPUBLISH_1, "kafka, idempotent producer")].extra_charges == 10


def test_queue_deduplication_holds_only_inside_its_window(cases):
    """SQS FIFO (5 min) and Service Bus detection (off by default, 10 min) drop a resend in time."""
    assert cases[(REPUBLISH_1, "sqs-fifo (5 min deduplication)")].extra_charges == 0
    assert cases[(REPUBLISH_1, "service-bus, detection off (default)")].extra_charges == 10
    assert cases[(REPUBLISH_1, "service-bus, duplicate detection on")].extra_charges == 0
    assert cases[(REPUBLISH_15, "sqs-fifo (5 min deduplication)")].extra_charges == 10
    assert cases[(REPUBLISH_15, "service-bus, duplicate detection on")].extra_charges == 10


def test_no_broker_setting_removes_a_redelivery_only_the_idempotent_consumer(cases):
    """A charge followed by a lost ack is charged again on every broker; the id-set skips it."""
    for (source, setting), case in cases.items():
        if source == REDELIVERY and "idempotent consumer" not in setting:
            assert case.extra_charges == 3, setting
    assert cases[(REDELIVERY, "any broker + idempotent consumer")].extra_charges == 0
    assert cases[(REPUBLISH_15, "any broker + idempotent consumer")].extra_charges == 0


def test_kafka_transactions_cover_the_output_not_the_side_effect():
    """read_committed sees each PaymentTaken once; the card is still charged twice for order-2."""
    committed = transaction_demo("read_committed")
    uncommitted = transaction_demo("read_uncommitted")
    assert (committed.payments_seen, committed.card_charges, committed.aborted) == (3, 4, 1)
    assert (uncommitted.payments_seen, uncommitted.card_charges) == (4, 4)


def test_same_arguments_same_result():
    """Seeded: two runs agree."""
    assert duplicate_sources(orders=5) == duplicate_sources(orders=5)


def test_bad_input_names_the_rule():
    """orders, seed and isolation are checked."""
    with pytest.raises(ValueError, match="orders"):
        duplicate_sources(orders=1)
    with pytest.raises(ValueError, match="isolation"):
        transaction_demo("serializable")


def test_the_picture_groups_by_source_and_shows_zeros():
    """One bar per case, titled groups, and a visible 0 for the removed ones."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = duplicate_sources()
    ax = draw_duplicate_sources(cases)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert f"{RETRY}:" in labels and f"{REDELIVERY}:" in labels
    texts = [t.get_text() for t in ax.texts]
    assert texts.count("0  (removed)") == sum(c.extra_charges == 0 for c in cases)
    assert "extra charges for 10 orders" == ax.get_xlabel()
    plt.close(ax.figure)
    with pytest.raises(ValueError):
        draw_duplicate_sources([])


def test_resend_inside_and_outside_each_window():
    """SQS FIFO drops a resend within 5 min, not after; Kafka's idempotent producer never does."""
    from evtlib.course.scenarios.duplicate_sources import MINUTE, resend

    assert resend("sqs-fifo", 4 * MINUTE, orders=1) == 1
    assert resend("sqs-fifo", 6 * MINUTE, orders=1) == 2
    detection = {"RequiresDuplicateDetection": True}
    assert resend("service-bus", 9 * MINUTE, detection, orders=1) == 1
    assert resend("service-bus", 11 * MINUTE, detection, orders=1) == 2
    assert resend("kafka", 1.0, orders=2) == 4
    with pytest.raises(ValueError, match="after_ms"):
        resend("kafka", -1)
