"""Solutions to the course's exercises, one module per notebook (``nb01``, ``nb02``, ...).

Each exercise ``exN`` has a function ``exN()`` returning the answer the
notebook's ``check`` expects.  ``tests/test_solutions.py`` runs every check
against these, so the solutions stay correct as the library changes.
Teachers: this is where the answers are; learners: try first!
"""
