"""Requirements in and out of Safecase: ReqIF with DOORS, Polarion, Codebeamer and ProR, and
CSV / Excel tables.

Every import is one transaction with one ledger entry for the whole file (subject
``reqif-import:<file>`` or ``table-import:<file>``, digest the SHA-256 of the file's bytes):
either all of it lands or nothing changes. Imported data is never silently dropped: what could
not be imported is listed in the report's ``unmapped`` (with the reason), what was imported but
deserves a look (a lowered ASIL, an unknown relation type) in ``warnings``.

The modules:

* :mod:`~compliance.interchange.reqif`: :func:`~compliance.interchange.reqif.reqif_import` and
  :func:`~compliance.interchange.reqif.reqif_export` (the ReqIF format itself is
  :mod:`compliance.reqif`).
* :mod:`~compliance.interchange.tables`: :func:`~compliance.interchange.tables.table_import`
  for ``.csv`` and ``.xlsx``.
* :mod:`~compliance.interchange.common`: what every import shares: the report, the upload
  limit, matching incoming requirements with the project's and writing them in bulk, the
  ledger entry.
* :mod:`~compliance.interchange.values`: a tool's kind, ASIL, status and relation type names
  read as Safecase's.

Links from an import obey the one trace-link policy of :mod:`compliance.links`.
"""
