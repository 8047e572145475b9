"""Events: immutable envelopes, JSON round trips, reactions and upcasting."""

from __future__ import annotations

import json

import pytest

from evtlib import Event, FrozenDict, FrozenEventError, Upcaster, freeze, thaw


def order_placed(**kw) -> Event:
    fields = dict(
        id="evt-000001",
        type="OrderPlaced",
        time=0,
        source="orders",
        key="order-1",
        data={"total": 30, "items": [{"sku": "A", "qty": 2}]},
    )
    fields.update(kw)
    return Event(**fields)


def test_correlation_id_defaults_to_own_id():
    """An event that starts a chain is its own correlation id and has no cause."""
    e = order_placed()
    assert e.correlation_id == "evt-000001"
    assert e.causation_id is None
    assert e.time == 0.0 and isinstance(e.time, float)


def test_reaction_copies_correlation_and_sets_causation():
    """A reaction keeps the chain's correlation id and names its cause."""
    e = order_placed()
    paid = e.reaction(id="evt-000002", type="PaymentCaptured", time=5, source="payments")
    shipped = paid.reaction(id="evt-000003", type="OrderShipped", time=9, source="shipping")
    assert (paid.correlation_id, paid.causation_id) == ("evt-000001", "evt-000001")
    assert (shipped.correlation_id, shipped.causation_id) == ("evt-000001", "evt-000002")
    assert shipped.key == "order-1"  # same aggregate, same partition
    assert paid.data == {}


def test_data_is_frozen_all_the_way_down():
    """Nested dicts become FrozenDicts and lists become tuples."""
    e = order_placed()
    assert isinstance(e.data, FrozenDict)
    assert isinstance(e.data["items"], tuple)
    assert isinstance(e.data["items"][0], FrozenDict)


def test_changing_the_callers_dict_does_not_change_the_event():
    """The event keeps its own copy of data."""
    data = {"total": 30}
    e = order_placed(data=data)
    data["total"] = 0
    assert e.data["total"] == 30


@pytest.mark.parametrize(
    "mutate",
    [
        lambda e: e.data.__setitem__("total", 0),
        lambda e: e.data["items"][0].__setitem__("qty", 9),
        lambda e: e.data.__delitem__("total"),
        lambda e: setattr(e, "type", "OrderCancelled"),
        lambda e: delattr(e, "key"),
    ],
    ids=["set-data", "set-nested", "del-data", "set-attr", "del-attr"],
)
def test_events_cannot_be_changed(mutate):
    """Every attempt to change an event raises FrozenEventError (also an AttributeError)."""
    e = order_placed()
    with pytest.raises(FrozenEventError):
        mutate(e)
    with pytest.raises(AttributeError):
        mutate(e)
    assert e.to_dict() == order_placed().to_dict()


def test_json_round_trip_gives_an_equal_event():
    """from_json(to_json()) rebuilds an equal event, with the same bytes."""
    e = order_placed().reaction(
        id="evt-000002", type="PaymentCaptured", time=5.5, source="payments", data={"x": [1, 2.5]}
    )
    text = e.to_json()
    back = Event.from_json(text)
    assert back == e
    assert back.to_json() == text
    assert list(json.loads(text)) == sorted(json.loads(text))  # sorted keys: stable bytes


def test_to_dict_is_plain_and_mutable():
    """to_dict and thaw give plain dicts and lists that may be changed freely."""
    d = order_placed().to_dict()
    assert type(d["data"]) is dict and type(d["data"]["items"]) is list
    d["data"]["items"].append("more")  # no error, and the event is untouched
    assert thaw(freeze({"a": [1, {"b": 2}]})) == {"a": [1, {"b": 2}]}


def test_replace_makes_a_new_event_and_leaves_the_old_one():
    """replace() returns a changed copy; the original stays as it was."""
    e = order_placed()
    e2 = e.replace(data={"total": 40}, version=2)
    assert e.data["total"] == 30 and e.version == 1
    assert e2.data == {"total": 40} and e2.version == 2 and e2.id == e.id


def test_frozen_dict_is_hashable_and_equals_a_dict():
    """FrozenDict compares equal to the dict it was made from and can be hashed."""
    fd = freeze({"b": 1, "a": 2})
    assert fd == {"a": 2, "b": 1}
    assert hash(fd) == hash(freeze({"a": 2, "b": 1}))
    assert repr(fd) == "{'b': 1, 'a': 2}"


def test_upcaster_applies_every_step_in_order():
    """An upcaster turns a v1 event into v3 through v2, keeping the id."""
    up = Upcaster()
    up.register("OrderPlaced", 1, lambda d: {**d, "currency": "EUR"})
    up.register("OrderPlaced", 2, lambda d: {"amount": {"value": d["total"], "cur": d["currency"]}})
    e = order_placed(data={"total": 30})
    new = up.upcast(e)
    assert up.latest("OrderPlaced") == 3
    assert new.version == 3 and new.id == e.id
    assert new.data == {"amount": {"value": 30, "cur": "EUR"}}
    assert e.version == 1 and e.data == {"total": 30}
    assert up.upcast(new) is new
    assert up.latest("Other") == 1
    assert repr(up) == "<Upcaster OrderPlaced v1->v2, OrderPlaced v2->v3>"


def test_upcaster_leaves_other_types_alone():
    """An event with no registered step is returned unchanged."""
    up = Upcaster()
    up.register("OrderShipped", 1, lambda d: d)
    e = order_placed()
    assert up.upcast(e) is e


def test_repr_shows_id_type_time_key_and_data():
    """The repr reads like a line of a log."""
    e = order_placed(data={"total": 30}, version=2)
    assert repr(e) == "<Event evt-000001 OrderPlaced t=0 key=order-1 v2 data={'total': 30}>"
