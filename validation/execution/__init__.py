"""Executors: where the KPIs of a shard of test cases are computed.

``base`` holds the protocol and the errors, ``cases`` the track tables every executor starts
from, ``local``, ``spark`` and ``sagemaker`` one executor each, and ``registry`` the one list
of them.
"""
