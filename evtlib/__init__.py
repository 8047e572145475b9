"""evtlib: a deterministic event simulation for learning event-driven architecture.

The core (this package, standard library only) simulates events, producers,
a broker with topics, partitions and consumer groups, consumers, faults, a
trace and metrics.  Plotting and widgets live in :mod:`evtlib.viz`; the four
patterns in :mod:`evtlib.patterns`.
"""

from .broker import Broker, Group, NetworkFaults, PartitionState, Topic, partition_for
from .consumer import DELIVERY_MODES, Consumer, Delivery
from .distributions import Constant, Exponential, Poisson, Rate, Schedule, Uniform
from .errors import BufferFullError, CommitError, EmptySchedule, EvtlibError, FrozenEventError
from .events import Event, FrozenDict, Upcaster, freeze, thaw
from .faults import crash, pause, restart
from .metrics import (
    consistency_lags,
    group_status,
    lag_series,
    lag_status,
    percentiles,
    throughput,
)
from .outcome import ACK, SETTLED, Outcome
from .producer import Producer
from .profiles import PROFILES, Profile
from .readmodel import ReadModel
from .sim import Scheduler, Simulation
from .trace import Trace, TraceRecord

__version__ = "0.1.0"

__all__ = [
    "Simulation",
    "Scheduler",
    "Event",
    "FrozenDict",
    "freeze",
    "thaw",
    "Upcaster",
    "Broker",
    "Profile",
    "PROFILES",
    "Topic",
    "Group",
    "PartitionState",
    "NetworkFaults",
    "partition_for",
    "Producer",
    "Consumer",
    "ReadModel",
    "Delivery",
    "DELIVERY_MODES",
    "SETTLED",
    "ACK",
    "Outcome",
    "Constant",
    "Uniform",
    "Exponential",
    "Schedule",
    "Rate",
    "Poisson",
    "crash",
    "pause",
    "restart",
    "Trace",
    "TraceRecord",
    "lag_series",
    "lag_status",
    "group_status",
    "consistency_lags",
    "percentiles",
    "throughput",
    "EvtlibError",
    "BufferFullError",
    "CommitError",
    "EmptySchedule",
    "FrozenEventError",
]
