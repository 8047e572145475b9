"""The four patterns, each beside its naive twin; one module per role.

* :mod:`.outbox` (+ :mod:`.outbox_scenarios`): transactional outbox
  (``OrderService`` + ``OutboxRelay``) vs. the dual write (``DualWriteService``).
* :mod:`.idempotent` (+ :mod:`.idempotent_stores`, :mod:`.idempotent_scenarios`):
  idempotent consumer (``IdempotentConsumer`` with an id-set or position
  store) vs. ``NaiveConsumer``.
* :mod:`.dlq` (+ :mod:`.retry`, :mod:`.dlq_scenarios`): dead-letter queue
  (``DeadLetterConsumer`` with a ``RetryPolicy``, ``DeadLetterQueue`` to
  inspect and redrive) vs. the plain ``Consumer`` that retries forever.
* :mod:`.retry_topics`: Spring-style retry topics (``-retry-N``, ``-dlt``) vs.
  blocking retries, and the per-key order they give up.
* :mod:`.event_store`: event sourcing's write side: one stream per aggregate,
  appends with an expected version, snapshots (in memory or on SQLite).
* :mod:`.saga` (a package: definition, log, orchestration, choreography,
  scenarios): sagas, orchestrated (``SagaOrchestrator`` + ``Participant``) or
  choreographed (``Choreography``), vs. ``NaiveSequence`` (no compensation).
* :mod:`.crashes`: named crash points (``CrashPlan``, ``SimulatedCrash``);
  :mod:`.sqlite`: the explicit SQLite transactions the patterns share.

The scenario modules build seeded runs and sweeps for the notebooks; the
others are the patterns themselves.
"""

from .crashes import CrashPlan, SimulatedCrash
from .dlq import (
    DEAD_LETTER_TYPE,
    Conservation,
    DeadLetterConsumer,
    DeadLetterQueue,
    DeadLetterRecord,
    RedriveStep,
    check_redrive,
    conservation,
)
from .dlq_scenarios import (
    FlakyService,
    HeadOfLine,
    PoisonError,
    ServiceUnavailable,
    StormBucket,
    StormResult,
    SweepResult,
    SweepTally,
    dlq_sweep,
    head_of_line,
    retry_storm,
)
from .idempotent import (
    IDEMPOTENT_CRASH_POINTS,
    LEDGER_SCHEMA,
    IdempotentConsumer,
    NaiveConsumer,
    charge_customer,
    ledger,
)
from .idempotent_scenarios import RetentionDemo, idempotent_sweep, retention_demo
from .idempotent_stores import MemoryIdStore, ProcessedStore, SqliteIdStore, SqlitePositionStore
from .outbox import (
    DUAL_WRITE_ORDERS,
    OUTBOX_CRASH_POINTS,
    DualWriteService,
    OrderService,
    OutboxRelay,
    create_outbox_schema,
)
from .outbox_scenarios import Outcome, crash_sweep, outbox_sweep, run_outbox_scenario
from .retry import BACKOFFS, JITTERS, RetryPolicy
from .saga import (
    Choreography,
    FailurePlan,
    NaiveSequence,
    Participant,
    SagaDefinition,
    SagaInstance,
    SagaLog,
    SagaMonitor,
    SagaOrchestrator,
    Step,
    StepFailed,
)
from .saga.scenarios import SagaRun, Shop, isolation_scenario, order_saga, run_order, saga_sweep
from .sqlite import ClosedDatabaseError, connect, transaction

__all__ = [
    # crashes
    "CrashPlan",
    "SimulatedCrash",
    "connect",
    "transaction",
    "ClosedDatabaseError",
    # outbox
    "OUTBOX_CRASH_POINTS",
    "DUAL_WRITE_ORDERS",
    "OrderService",
    "DualWriteService",
    "OutboxRelay",
    "Outcome",
    "create_outbox_schema",
    "run_outbox_scenario",
    "crash_sweep",
    "outbox_sweep",
    # idempotent
    "IDEMPOTENT_CRASH_POINTS",
    "LEDGER_SCHEMA",
    "ProcessedStore",
    "SqliteIdStore",
    "SqlitePositionStore",
    "MemoryIdStore",
    "IdempotentConsumer",
    "NaiveConsumer",
    "charge_customer",
    "ledger",
    "RetentionDemo",
    "retention_demo",
    "idempotent_sweep",
    # dead-letter queue and retries
    "RetryPolicy",
    "BACKOFFS",
    "JITTERS",
    "DEAD_LETTER_TYPE",
    "DeadLetterRecord",
    "DeadLetterConsumer",
    "DeadLetterQueue",
    "RedriveStep",
    "check_redrive",
    "Conservation",
    "conservation",
    "PoisonError",
    "ServiceUnavailable",
    "FlakyService",
    "HeadOfLine",
    "head_of_line",
    "StormBucket",
    "StormResult",
    "retry_storm",
    "SweepTally",
    "SweepResult",
    "dlq_sweep",
    # saga
    "Step",
    "SagaDefinition",
    "FailurePlan",
    "StepFailed",
    "SagaLog",
    "SagaInstance",
    "Participant",
    "SagaOrchestrator",
    "NaiveSequence",
    "Choreography",
    "SagaMonitor",
    "Shop",
    "order_saga",
    "SagaRun",
    "run_order",
    "saga_sweep",
    "isolation_scenario",
]
