"""Notebook 06's schema drift and lag spiral: what each reader does, and what a registry would say."""

from __future__ import annotations

from collections import defaultdict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evtlib.course.scenarios import failure_modes as F

R = F.REQUIRED
V1 = {"order_id": R, "total": R}


@pytest.mark.parametrize(
    ("reader", "change", "tally"),
    [
        ("defaulting", "rename", {"counted right": 20, "counted as 0": 20, "not read": 0}),
        ("strict", "rename", {"counted right": 20, "counted as 0": 0, "not read": 20}),
        ("defaulting", "additive", {"counted right": 40, "counted as 0": 0, "not read": 0}),
        ("strict", "additive", {"counted right": 40, "counted as 0": 0, "not read": 0}),
    ],
)
def test_each_reader_under_each_change(reader, change, tally):
    """A rename makes the defaulting reader wrong and the strict one stuck; an additive change neither."""
    run = F.schema_drift(reader=reader, change=change)
    assert F.drift_tally(run) == tally
    assert sum(F.drift_tally(run).values()) == run.producer.published
    changed = F.drift_tally(run, changed_only=True)
    assert changed["counted right"] == tally["counted right"] - 20  # the first 20 are the old shape
    assert sum(changed.values()) == 20


def test_schema_drift_refuses_unknown_readers_and_changes():
    """A misspelt reader or change is named in the error."""
    with pytest.raises(ValueError, match="reader"):
        F.schema_drift(reader="tolerant")
    with pytest.raises(ValueError, match="change"):
        F.schema_drift(change="delete")


@pytest.mark.parametrize(
    ("new", "modes"),
    [
        ({"order_id": R, "amount_cents": R}, (False, False, False)),  # rename
        ({"order_id": R, "amount_cents": 0}, (True, False, False)),  # rename, new field defaulted
        ({"order_id": R, "total": R, "amount_cents": 0}, (True, True, True)),  # add optional
        ({"order_id": R, "total": R, "amount_cents": R}, (False, True, False)),  # add required
        ({"order_id": R}, (True, False, False)),  # delete a required field
    ],
)
def test_compatibility_follows_confluents_definitions(new, modes):
    """BACKWARD: delete fields, add optional ones; FORWARD: add fields, delete optional ones; FULL: both."""
    assert F.compatibility(V1, new) == dict(zip(F.MODES, modes, strict=True))


schemas = st.dictionaries(
    st.sampled_from(["order_id", "total", "amount_cents", "currency", "note"]),
    st.sampled_from([R, 0, ""]),
    max_size=5,
)


@given(schemas, schemas)
def test_full_is_backward_and_forward_both_ways(old, new):
    """FULL holds exactly when both directions hold; swapping the schemas swaps them."""
    there, back = F.compatibility(old, new), F.compatibility(new, old)
    assert there["FULL"] == (there["BACKWARD"] and there["FORWARD"])
    assert there["BACKWARD"] == back["FORWARD"]
    assert F.compatibility(old, old)["FULL"]


@given(schemas, st.sampled_from(["currency", "note", "region"]))
def test_adding_an_optional_field_is_always_full_compatible(old, field):
    """An added field with a default never breaks a reader, old or new."""
    new = {**old, field: old.get(field, "") if old.get(field) is not R else ""}
    assert F.compatibility(old, new)["FULL"]


def test_can_read_refuses_non_schemas():
    """A schema is a mapping; anything else is named in the error."""
    with pytest.raises(TypeError, match="reader"):
        F.can_read(["total"], V1)


def test_a_retry_publishes_the_same_event():
    """The spiral's retries keep each event's id and data; at most three attempts per order."""
    run = F.lag_spiral(400)
    copies = defaultdict(list)
    for e in run.broker.events("orders"):
        copies[e.id].append(e)
    assert any(len(c) > 1 for c in copies.values())
    for same in copies.values():
        assert all(e == same[0] for e in same)  # id, time, data: unchanged
        assert len(same) <= 3
    assert sum(len(c) - 1 for c in copies.values()) == run.info["requeued"]
