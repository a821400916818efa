"""A transparency-log witness that another site or an assessor runs on its own machine.

It pins the public keys of the logs it watches, keeps the latest checkpoint it cosigned for
each log in a state folder, and cosigns a new checkpoint only when an RFC 9162 consistency
proof shows it extends that one (https://c2sp.org/tlog-witness,
https://c2sp.org/tlog-cosignature). It depends on the standard library and ``cryptography``
only, never on the Safecase application.
"""
