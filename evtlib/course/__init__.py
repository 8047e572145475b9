"""Course-only code: what the notebooks use that is not part of the library.

* :mod:`.helpers`: the setup cell, the environment check, exercise checks
  (re-exported here, so a notebook starts with ``from evtlib.course import setup``).
* :mod:`.scenarios`: the concept notebooks' experiments (03-05), returning data.
* :mod:`.chaos`: the whole shop under random fault schedules (10).
* :mod:`.styles`: related styles: state transfer, event sourcing, CQRS,
  request/response (11).
* :mod:`.exercises` and :mod:`.solutions`: exercise checks and their
  solutions, one module per notebook.

The library (:mod:`evtlib`, :mod:`evtlib.patterns`, :mod:`evtlib.viz`) never
imports this package.
"""

from .helpers import REQUIRED, check, environment_report, settle_memory, setup

__all__ = ["setup", "settle_memory", "environment_report", "check", "REQUIRED"]
