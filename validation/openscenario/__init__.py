"""OpenSCENARIO 1.x: logical scenarios, parameter value distributions and their expansion.

Pure Python (lxml, numpy); no Django.

Modules, each importing only those before it: ``errors``, ``expressions`` (the evaluator),
``parameters`` (declarations, types, constraints), ``parsing`` (scenario files),
``catalogs`` (catalog files and ``CatalogReference`` resolution), ``distributions``
(distribution files) and ``expansion`` (concrete cases). This package
re-exports the names the other modules of the project use.

- :func:`parse_scenario` reads a scenario file: file name, description, global
  ``ParameterDeclarations`` (name, type, default, ``ConstraintGroup``/``ValueConstraint``) and the
  names of its entities. Every ``$name`` used in an attribute (plain references and inside
  ``${...}`` expressions) must be declared somewhere in the file, else :class:`ScenarioError`;
  the ``parameterRef`` of a ``ParameterAssignment`` inside a ``CatalogReference`` names a
  parameter of the catalog entry, not of the file, and is not such a reference.
- :func:`document_kind` (of a parsed root) and :func:`file_kind` (of a file) tell a scenario,
  a distribution and a catalog file apart; :mod:`~validation.openscenario.archive` expands the
  ``.xosc`` members of a zip archive, refusing decompression bombs.
- :func:`parse_catalog` reads a catalog file (``Catalog`` element, no Storyboard: vehicles,
  controllers, pedestrians, misc objects, environments, maneuvers, trajectories, routes);
  :func:`resolve_references` resolves a scenario's ``CatalogReference`` elements: the entry's
  declared defaults overridden by the reference's ``ParameterAssignment`` values.
- :func:`load_distribution` reads a ``ParameterValueDistribution`` file and the scenario file it
  names (``ScenarioFile filepath``, relative to the distribution file, anywhere inside the
  folder being imported, never outside it).
- :func:`expand` turns a distribution into concrete cases: every case is a dict holding a value
  for *every* global parameter of the scenario (the distributed ones and the defaults of the
  others), typed by the declared ``parameterType``. Cases that violate a constraint are dropped
  and counted in :attr:`Expansion.discarded`.
- :func:`evaluate_expression` evaluates ``${...}`` expressions with its own tokenizer and
  recursive-descent parser (no ``eval``): numbers, ``$parameters``, ``true``/``false``,
  unary ``-``, ``+ - * / %``, ``not``/``and``/``or``, parentheses and the functions ``round
  floor ceil sqrt pow sin cos tan asin acos atan sign abs min max``.

Constraint semantics (OpenSCENARIO 1.2): all ``ValueConstraint`` of one ``ConstraintGroup``
must hold; a value is valid when at least one of its groups holds (or it has no group).

XML is parsed from bytes (a UTF-8 BOM is fine) with no DTD loading, no entity resolution and no
network; a document with a DOCTYPE or ENTITY declaration is refused.
"""

from validation.openscenario.catalogs import (
    Catalog,
    CatalogEntry,
    ResolvedReference,
    parse_catalog,
    resolve_references,
)
from validation.openscenario.distributions import load_distribution, range_values
from validation.openscenario.errors import ScenarioError
from validation.openscenario.expansion import expand
from validation.openscenario.expressions import evaluate_expression, resolve_value
from validation.openscenario.parsing import (
    CATALOG,
    DISTRIBUTION,
    SCENARIO,
    document_kind,
    file_kind,
    parse_scenario,
)

__all__ = [
    "CATALOG",
    "DISTRIBUTION",
    "SCENARIO",
    "Catalog",
    "CatalogEntry",
    "ResolvedReference",
    "ScenarioError",
    "document_kind",
    "file_kind",
    "parse_catalog",
    "resolve_references",
    "evaluate_expression",
    "expand",
    "load_distribution",
    "parse_scenario",
    "range_values",
    "resolve_value",
]
