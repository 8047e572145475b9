"""Exercise checks for the course notebooks, one module per notebook (``nb01``, ``nb02``, ...).

Each exercise ``exN`` has ``check_exN(answer) -> bool``, built on
:func:`evtlib.course.check`: it prints ``Correct!`` or ``Not yet`` with a hint
and never raises, so a learner's notebook runs top to bottom before any
exercise is solved.  The matching answers are in :mod:`evtlib.course.solutions`.
"""
