"""Animations that play without a kernel: GIFs of a run unfolding."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from evtlib import Broker, Consumer, Producer, Simulation
from evtlib.viz.animation import steps_gif, timeline_gif


def small_run():
    sim = Simulation(0)
    b = Broker(sim, latency=1)
    b.create_topic("orders")
    Consumer(b, "billing", "orders", service_time=2)
    p = Producer(b, "shop", "orders")
    for t in (0, 3, 6):
        sim.schedule(t, p.emit, "OrderPlaced", "k")
    sim.run()
    return sim, b


def test_a_timeline_gif_has_one_frame_per_moment_and_is_the_same_every_time():
    """The timeline grows frame by frame; the same run gives the same bytes."""
    sim, _ = small_run()
    gif = timeline_gif(sim, frames=5)
    image = Image.open(io.BytesIO(gif))
    assert image.format == "GIF" and image.n_frames == 5
    assert timeline_gif(sim, frames=5) == gif


def test_a_steps_gif_shows_the_chosen_steps():
    """One frame per chosen trace record, drawn as the step player draws it."""
    sim, b = small_run()
    image = Image.open(io.BytesIO(steps_gif(sim.trace, b, steps=[0, 1, 2])))
    assert image.n_frames == 3


def test_bad_animation_arguments_are_refused():
    """Too few frames, an empty trace or no steps: a clear error."""
    sim, b = small_run()
    with pytest.raises(ValueError, match="frames must be an int in 2..200, got 1"):
        timeline_gif(sim, frames=1)
    with pytest.raises(ValueError, match="source must hold at least one trace record"):
        timeline_gif([])
    with pytest.raises(ValueError, match="steps must choose at least one record"):
        steps_gif(sim.trace, b, steps=[])
