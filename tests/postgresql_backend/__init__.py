"""PostgreSQL for the tests: Django's backend, with the flush between tests done by the owner.

Django empties the database after each transactional test with one ``TRUNCATE`` of every table.
The ledger tables refuse TRUNCATE (a trigger), and the application role may not empty them at
all; so the flush runs as the owner, in one transaction, with the append-only triggers lifted
for it only (``tests/owner.py``). It deletes rather than truncates: on the few rows a test
leaves, DELETE takes milliseconds where TRUNCATE replaces the files of every table (about a
second for all of them). Django's foreign keys are deferred to the commit, so the order of the
tables does not matter. Nothing outside the tests uses this backend.
"""
