"""Notebook 02's additions: adding partitions moves keys, retention, compaction, crypto-shredding."""

from __future__ import annotations

import pytest

from evtlib.course.scenarios.partitions import (
    compaction_run,
    draw_compaction,
    grow_partitions,
    retention_run,
    shred_demo,
)


def test_without_growing_every_order_keeps_its_order():
    """The naive baseline: with 3 partitions throughout, no order is handled out of order."""
    run = grow_partitions(grow_to=None)
    assert run.info == {"moved": {}, "out_of_order": (), "grown_at": None}


def test_adding_a_partition_moves_keys_and_breaks_per_key_order():
    """Growing 3 -> 4 moves order-16 and order-17; order-17's shipped overtakes its paid."""
    run = grow_partitions(grow_to=4)
    assert run.info["moved"] == {"order-16": (1, 2), "order-17": (2, 0)}
    assert run.info["out_of_order"] == ("order-17",)
    assert [e for e in run.effects if e.startswith("order-17")] == [
        "order-17:OrderPlaced",
        "order-17:OrderShipped",
        "order-17:OrderPaid",
    ]
    assert len(run.trace.filter(kind="repartitioned")) == 1


def test_grow_to_must_add_partitions():
    """A topic can only grow: grow_to below 4 is refused, naming the rule."""
    with pytest.raises(ValueError, match="grow_to must be an int in 4..12, got 3"):
        grow_partitions(grow_to=3)


def test_a_late_group_gets_only_what_retention_kept():
    """Retention 50 ms, join at 100 ms: the 11 orders placed at t<=50 ms are gone; 19 are read."""
    run = retention_run(retention=50, join_at=100)
    assert run.info == {"handled": 19, "missed": 11, "log_start_at_join": 11}
    assert retention_run(retention=1000, join_at=100).info["missed"] == 0


def test_compaction_keeps_the_latest_per_key_and_drops_the_tombstone_later():
    """After one compaction: latest per key plus the tombstone; after delete.retention.ms: no tombstone."""
    stages = compaction_run(delete_retention=100)["stages"]
    kept = [[(o, k) for o, k, _, keep in offsets if keep] for _, offsets in stages]
    assert kept[0] == [(o, k) for o, k, _, _ in stages[0][1]]
    assert kept[1] == [(2, "customer-1"), (3, "customer-3"), (5, "customer-2")]
    assert kept[2] == [(2, "customer-1"), (3, "customer-3")]
    assert stages[1][1][5][2] is None  # the tombstone's value


def test_the_compaction_picture_draws():
    """The picture has a legend naming kept, removed and tombstone."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = draw_compaction(compaction_run()["stages"])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["kept", "removed by compaction", "tombstone (value None)"]
    plt.close("all")


def test_crypto_shredding_leaves_the_events_and_erases_one_person():
    """Deleting a customer's key makes their address unreadable; events and other customers unchanged."""
    demo = shred_demo()
    events = demo["broker"].events("orders")
    before = [dict(e.data) for e in events]
    assert "22 Oak Ave" not in str(before)  # encrypted at rest
    assert "address=22 Oak Ave" in demo["read"](events[1])
    demo["forget"]("customer-2")
    assert [dict(e.data) for e in events] == before
    assert "<shredded: key deleted>" in demo["read"](events[1])
    assert "address=1 Main St" in demo["read"](events[0])
    assert shred_demo()["broker"].events("orders")[1].data == events[1].data  # seeded
