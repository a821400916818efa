"""Generated ReqIF content for the tests and the benchmarks: realistic ISO 26262 requirements.

:func:`build_example_content` gives the neutral structures, deterministic for a seed;
:func:`generate_reqif` writes them with :func:`compliance.reqif.writer.write_reqif`, byte for
byte the same for the same arguments.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass
from html import escape

from compliance.reqif.document import Hierarchy, Specification, SpecObject, SpecRelation
from compliance.reqif.writer import write_reqif

EXAMPLE_EXTRA_ATTRIBUTES = (
    "ASIL",
    "Kind",
    "Status",
    "Version",
    "Verification Method",
    "Allocated To",
    "Rationale",
)
_ITEMS = (
    "the adaptive cruise control",
    "the lane keeping assist",
    "the automatic emergency braking function",
    "the electric power steering",
    "the brake-by-wire actuator",
    "the radar sensor",
    "the front camera",
    "the battery management system",
    "the park assist",
    "the traffic sign recognition",
)
_ACTIONS = (
    "limit the commanded deceleration to {v} m/s^2",
    "detect a loss of the sensor signal within {v} ms",
    "transition to the safe state within {v} ms",
    "hand control back to the driver with a warning of at least {v} s",
    "reject steering torque requests above {v} Nm",
    "report a plausibility fault after {v} consecutive invalid frames",
    "keep the lateral deviation below {v} cm",
    "degrade to a minimal risk manoeuvre within {v} s",
)
_CONDITIONS = (
    "when the vehicle speed exceeds 10 km/h",
    "while the driver does not hold the steering wheel",
    "if the supply voltage drops below 9 V",
    "when two redundant channels disagree",
    "during a rain or snow condition detected by the wiper status",
    "after an ignition cycle",
)
_RATIONALES = (
    "Derived from the safety goal to avoid unintended braking.",
    "Fault tolerant time interval from the hazard analysis.",
    "Controllability assessed in driving studies (C2).",
    "Required by the technical safety concept.",
    "Covers the single-point fault metric target.",
)
_SECTIONS = (
    "Functional safety requirements",
    "Technical safety requirements",
    "Safety mechanisms",
    "Degradation concept",
    "Diagnostics",
    "Interfaces",
    "Hardware safety requirements",
    "Software safety requirements",
)


@dataclass(slots=True)
class ExampleContent:
    """What :func:`generate_reqif` writes: the neutral structures before serialisation."""

    title: str
    objects: list[SpecObject]
    relations: list[SpecRelation]
    specifications: list[Specification]
    extra_attributes: list[str]
    creation_time: dt.datetime


def build_example_content(
    n_requirements: int, n_relations: int, seed: int = 0, section_size: int = 25
) -> ExampleContent:
    """Realistic ISO 26262 requirement content, deterministic for a given ``seed``.

    One specification, a heading object per ``section_size`` requirements (so the document
    holds ``n_requirements + ceil(n_requirements / section_size)`` spec objects), every fifth
    requirement nested under the previous one, rich text with paragraphs, emphasis and
    lists, seven extra attributes (ASIL, Kind, Status, ...), and ``n_relations`` links
    between distinct requirements of types "refines", "derived from" and "satisfies".
    """
    if n_requirements < 0 or n_relations < 0:
        raise ValueError("n_requirements and n_relations must not be negative")
    if n_relations and n_requirements < 2:
        raise ValueError("relations need at least two requirements")
    rng = random.Random(seed)
    moment = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)

    def new_id() -> str:
        return f"_{uuid.UUID(int=rng.getrandbits(128), version=4)}"

    objects: list[SpecObject] = []
    requirements: list[SpecObject] = []
    sections: list[Hierarchy] = []
    current: Hierarchy | None = None
    parent_node: Hierarchy | None = None
    for index in range(n_requirements):
        if index % section_size == 0:
            number = index // section_size + 1
            name = f"{number} {_SECTIONS[(number - 1) % len(_SECTIONS)]}"
            heading = SpecObject(
                identifier=new_id(),
                type_name="Safecase Requirement",
                last_change=_stamp(moment),
                title=name,
                is_heading=True,
            )
            objects.append(heading)
            current = Hierarchy(heading.identifier, [], True)
            sections.append(current)
            parent_node = None
        item = rng.choice(_ITEMS)
        action = rng.choice(_ACTIONS).format(v=rng.choice((2, 5, 10, 50, 100, 150, 200, 500)))
        condition = rng.choice(_CONDITIONS)
        asil = rng.choice(("QM", "A", "B", "C", "D"))
        sentence = f"{item[0].upper()}{item[1:]} shall {action} {condition}."
        detail = (
            f"The requirement applies to all variants with ASIL {asil} integrity and shall be "
            f"verified on the target hardware under nominal and degraded conditions."
        )
        if index % 3 == 0:
            bullets = [f"Fault case {k}: {rng.choice(_CONDITIONS)}" for k in range(1, 4)]
            items = "".join(f"<li>{escape(bullet)}</li>" for bullet in bullets)
            html = (
                f"<div><p>{escape(sentence)}</p><p><b>Note:</b> {escape(detail)}</p>"
                f"<ul>{items}</ul></div>"
            )
            text = "\n".join([sentence, f"Note: {detail}", *bullets])
        else:
            html = f"<div><p>{escape(sentence)}</p><p>{escape(detail)}</p></div>"
            text = f"{sentence}\n{detail}"
        kind = rng.choice(("FSR", "TSR", "HWSR", "SWSR"))
        requirement = SpecObject(
            identifier=new_id(),
            type_name="Safecase Requirement",
            last_change=_stamp(moment + dt.timedelta(minutes=index)),
            values={
                "ASIL": asil,
                "Kind": kind,
                "Status": rng.choice(("Draft", "In review", "Approved")),
                "Version": str(rng.randint(1, 9)),
                "Verification Method": rng.choice(("Test", "Analysis", "Review", "Inspection")),
                "Allocated To": rng.choice(("ECU-A", "ECU-B", "Sensor cluster", "Actuator")),
                "Rationale": rng.choice(_RATIONALES),
            },
            title=f"{item.removeprefix('the ').capitalize()}: {' '.join(action.split()[:4])}",
            text=text,
            text_xhtml=html,
            foreign_id=f"{kind}-{index + 1:05d}",
        )
        objects.append(requirement)
        requirements.append(requirement)
        node = Hierarchy(requirement.identifier, [], False)
        if parent_node is not None and index % 5 == 4:
            parent_node.children.append(node)
        else:
            assert current is not None
            current.children.append(node)
            parent_node = node
    relations = []
    for _ in range(n_relations):
        source, target = rng.sample(requirements, 2)
        relations.append(
            SpecRelation(
                identifier=new_id(),
                source=source.identifier,
                target=target.identifier,
                type_name=rng.choice(("refines", "derived from", "satisfies")),
                last_change=_stamp(moment),
            )
        )
    specification = Specification(
        identifier=new_id(),
        long_name="Safety Requirements Specification",
        children=sections,
        last_change=_stamp(moment),
    )
    return ExampleContent(
        title=f"Generated safety requirements ({n_requirements} requirements, seed {seed})",
        objects=objects,
        relations=relations,
        specifications=[specification],
        extra_attributes=list(EXAMPLE_EXTRA_ATTRIBUTES),
        creation_time=moment,
    )


def generate_reqif(n_requirements: int, n_relations: int, seed: int = 0) -> bytes:
    """A realistic large ReqIF document (see :func:`build_example_content`), via write_reqif.

    The output is byte-for-byte deterministic for given arguments.
    """
    content = build_example_content(n_requirements, n_relations, seed)
    return write_reqif(
        content.title,
        content.objects,
        content.relations,
        content.specifications,
        content.extra_attributes,
        document_id=f"_generated-{seed}",
        creation_time=content.creation_time,
    )


def _stamp(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
