"""Requirements in and out of Safecase: ReqIF with DOORS, DOORS Next, Polarion, Codebeamer,
Jama, ProR, Simulink Requirements and Enterprise Architect, and CSV / Excel tables.

Every import is one transaction with one ledger entry for the whole file (subject
``reqif-import:<file>`` or ``table-import:<file>``, digest the SHA-256 of the file's bytes):
either all of it lands or nothing changes. Imported data is never silently dropped: what could
not be imported is listed in the report's ``unmapped`` (with the reason), what was imported but
deserves a look (a lowered ASIL, an unknown relation type) in ``warnings``.

The modules:

* :mod:`~compliance.interchange.reqif`: :func:`~compliance.interchange.reqif.reqif_import` and
  :func:`~compliance.interchange.reqif.reqif_export` (the ReqIF format itself is
  :mod:`compliance.reqif`).
* :mod:`~compliance.interchange.source`: what a ReqIF import keeps so that the export gives
  it back (lossless round trips).
* :mod:`~compliance.interchange.tables`: :func:`~compliance.interchange.tables.table_import`
  for ``.csv`` and ``.xlsx``.
* :mod:`~compliance.interchange.workbook`: the Excel round trip (export with stable ids and
  row digests, re-import applying safe changes and reporting conflicts).
* :mod:`~compliance.interchange.common`: what every import shares: the report, the upload
  limit, matching incoming requirements with the project's and writing them in bulk, the
  ledger entry.
* :mod:`~compliance.interchange.values`: a tool's kind, ASIL, status and relation type names
  read as Safecase's.

Links from an import obey the one trace-link policy of :mod:`compliance.links`.
"""
