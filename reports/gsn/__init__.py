"""The GSN safety case, generated from the model, with a status on every node.

Structure (GSN Community Standard v3, REFERENCE.md §6.4)::

    G0  <item> is acceptably safe within its ODD         in the context of C1 item, C2 ODD, C3
     ├─ S1  argument over each safety goal of the HARA                           baseline
     │   └─ G:SG-01  the safety goal
     │       └─ S:SG-01  argument over the requirements derived from SG-01
     │           └─ G:FSR-001  the requirement holds
     │               ├─ S:FSR-001  argument over its derived requirements (and decomposition)
     │               │   ├─ Sn  the ASIL decomposition record
     │               │   └─ G:TSR-001 ...   (following derives-from / satisfies links down)
     │               └─ Sn  its verifications and validation runs (ledger entries)
     └─ S2  argument over the confirmation measures ISO 26262-2 Table 1 requires
         └─ G:CM:hara  the measure is done at the required independence
             └─ Sn  the approvals (ledger entries)

Statuses. A solution takes the status of its evidence:

* ``supported``: a passing verification or run of the current requirement version, a
  confirmation at the required independence, a decomposition record;
* ``challenged``: a failing verification or verdict, a confirmation that did not confirm;
* ``stale``: evidence older than what it verifies (a verification of an earlier requirement
  version, a confirmation review whose cited work products differ from the snapshot's); a
  stale node is drawn with a dashed outline and a stale review says so in its text;
* ``undeveloped``: evidence that does not decide (an inconclusive verdict, an approval below
  the required independence).

Only the latest verification per requirement and method is a solution: a newer one of the same
kind supersedes it (every entry stays in the evidence register).

Propagation. A goal or strategy without supporting children is ``undeveloped`` and carries the
undeveloped decorator (hollow diamond). Otherwise it takes the worst status of its supporting
children, in the order ``challenged`` > ``stale`` > ``undeveloped`` > ``supported``: a claim
is supported only when everything beneath it is, counter-evidence anywhere shows at the top, and
out-of-date evidence outranks a known hole because it means the case on record says something
that no longer holds. Context nodes have no status. The release gate of REFERENCE.md §6.4 passes
when no goal or strategy is undeveloped and every solution is supported.

Rendering is pure Python: :func:`layout` places a layered tree (a spanning tree of the graph;
a node with two parents is drawn once, with both edges), :func:`to_svg` writes SVG through
ElementTree (so every text is escaped), :func:`to_drawing` builds the same picture from
reportlab.graphics shapes for the PDF. :meth:`SafetyCase.to_json` is the nodes-and-edges form.

Modules: ``model`` (nodes, edges, statuses), ``argument`` (:func:`build` and the propagation),
``geometry`` (wrapping and :func:`layout`), ``svg`` and ``drawing`` (the two renderings).
"""

from reports.gsn.argument import build
from reports.gsn.drawing import figures, to_drawing
from reports.gsn.geometry import FAN, layout, subtree
from reports.gsn.model import (
    CHALLENGED,
    GOAL,
    SOLUTION,
    STALE,
    STRATEGY,
    SUPPORTED,
    SUPPORTED_BY,
    UNDEVELOPED,
    Edge,
    Node,
    SafetyCase,
)
from reports.gsn.svg import to_svg

__all__ = [
    "CHALLENGED",
    "FAN",
    "GOAL",
    "SOLUTION",
    "STALE",
    "STRATEGY",
    "SUPPORTED",
    "SUPPORTED_BY",
    "UNDEVELOPED",
    "Edge",
    "Node",
    "SafetyCase",
    "build",
    "figures",
    "layout",
    "subtree",
    "to_drawing",
    "to_svg",
]
