"""PostgreSQL for the tests: Django's backend, with the flush between tests done by the owner.

Django empties the database after each transactional test with one ``TRUNCATE`` of every table.
The ledger tables refuse TRUNCATE (a trigger), and the application role may not truncate them
at all; so the flush runs as the owner with the append-only triggers lifted for that statement
only (``tests/owner.py``). Nothing outside the tests uses this backend.
"""
