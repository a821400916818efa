"""CommonRoad obstacles with missing kinematic values: kept with what they have, or skipped
with a warning naming them; the rest of the file imports."""

from __future__ import annotations

import math

import numpy as np
import pytest
from lxml import etree

from tests.shared_data import shared_path
from validation.lake import LakeError, commonroad_to_table, convert_commonroad, validate_table

DT = 0.1


def _value(tag: str, value) -> str:
    return "" if value is None else f"<{tag}><exact>{value}</exact></{tag}>"


def _state(tag, step, x=None, y=0.0, theta=0.0, v=None, position=True) -> str:
    pos = f"<position><point><x>{x}</x><y>{y}</y></point></position>" if position else ""
    return (
        f"<{tag}>{pos}{_value('orientation', theta)}{_value('time', step)}"
        f"{_value('velocity', v)}</{tag}>"
    )


def _obstacle(oid, states: list[str], shape=True) -> str:
    rect = "<shape><rectangle><length>4.5</length><width>1.8</width></rectangle></shape>"
    initial, *rest = states
    trajectory = f"<trajectory>{''.join(rest)}</trajectory>" if rest else ""
    return (
        f'<dynamicObstacle id="{oid}"><type>car</type>{rect if shape else ""}'
        f"{initial}{trajectory}</dynamicObstacle>"
    )


def _file(*obstacles: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<commonRoad timeStepSize="0.1" commonRoadVersion="2020a" benchmarkID="T-1">'
        + "".join(obstacles)
        + "</commonRoad>"
    ).encode()


def _moving(oid, *, skip_v=(), skip_theta=(), no_position=(), n=4, speed=10.0):
    """States at x = speed * t along the x axis; some values left out."""
    states = []
    for k in range(n):
        tag = "initialState" if k == 0 else "state"
        states.append(
            _state(
                tag,
                k,
                x=round(speed * k * DT, 6),
                theta=None if k in skip_theta else 0.0,
                v=None if k in skip_v else speed,
                position=k not in no_position,
            )
        )
    return states


GAPS = _file(
    _obstacle(1, _moving(1, skip_v=(0,))),  # initial state without velocity
    _obstacle(2, _moving(2)),  # complete
    _obstacle(3, [_state("initialState", 0, x=50.0, v=None)]),  # one state, no velocity
    _obstacle(4, _moving(4, no_position=(2,))),  # a state without position
    _obstacle(5, _moving(5, skip_theta=(0, 1, 2, 3), speed=5.0)),  # no orientation at all
    _obstacle(6, _moving(6), shape=False),  # no shape
    _obstacle(7, [_state("initialState", 0, x=1.0, v="fast"), *_moving(7)[1:]]),
)


def _rows(table, oid):
    d = table.to_pydict()
    idx = [i for i, o in enumerate(d["object_id"]) if o == oid]
    return {k: np.array([d[k][i] for i in idx]) for k in d}


def test_obstacles_with_missing_values_keep_what_they_have_or_are_skipped():
    conversion = convert_commonroad(GAPS, "d", name="gaps.xml")
    table = validate_table(conversion.table)
    assert sorted(set(table.column("object_id").to_pylist())) == [1, 2, 4, 5]

    # 1: the initial velocity is derived from the positions (10 m/s), nothing else changes
    one = _rows(table, 1)
    assert one["t"].tolist() == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert one["vx"] == pytest.approx([10.0] * 4)
    # 4: the state without a position is left out, the others kept as written
    assert _rows(table, 4)["t"].tolist() == pytest.approx([0.0, 0.1, 0.3])
    # 5: heading from the displacement (along +x), speed as written
    five = _rows(table, 5)
    assert five["vx"] == pytest.approx([5.0] * 4) and five["vy"] == pytest.approx([0.0] * 4)

    assert conversion.warnings == [
        "gaps.xml: obstacle 1: no velocity in 1 of 4 states; derived from the positions",
        "gaps.xml: obstacle 3 has no velocity and a single state, so none can be derived; skipped",
        "gaps.xml: obstacle 4: 1 state(s) without time or position were left out",
        "gaps.xml: obstacle 5: no orientation in 4 of 4 states; derived from the positions",
        "gaps.xml: obstacle 6 has no shape; skipped",
        "gaps.xml: obstacle 7, initial state: velocity is not a number; skipped",
    ]
    assert not any("missing" in w for w in conversion.warnings)


def test_warnings_are_logged_by_the_table_reader(caplog):
    with caplog.at_level("WARNING", logger="validation.lake.commonroad"):
        table = commonroad_to_table(GAPS, "d", name="gaps.xml")
    assert table.num_rows == 4 + 4 + 3 + 4
    assert "gaps.xml: obstacle 6 has no shape; skipped" in caplog.text


def test_a_file_with_no_usable_obstacle_is_refused_with_every_reason():
    data = _file(
        _obstacle(3, [_state("initialState", 0, x=50.0, v=None)]),
        _obstacle(6, _moving(6), shape=False),
    )
    with pytest.raises(LakeError) as caught:
        convert_commonroad(data, "d", name="empty.xml")
    assert str(caught.value) == (
        "empty.xml: no dynamic obstacle could be imported: obstacle 3 has no velocity and a "
        "single state, so none can be derived; obstacle 6 has no shape"
    )


def test_a_real_recording_with_an_initial_state_lacking_velocity_still_imports():
    path = shared_path("data", "real", "commonroad", "commonroad-io__USA_Peach-4_8_T-1.xml")
    root = etree.fromstring(path.read_bytes())
    obstacle = root.find("dynamicObstacle")
    oid = int(obstacle.get("id"))
    initial = obstacle.find("initialState")
    initial.remove(initial.find("velocity"))
    conversion = convert_commonroad(etree.tostring(root), "d", name=path.name)
    assert conversion.table.num_rows == 368  # every state of the file, as without the gap
    assert conversion.warnings == [
        f"{path.name}: obstacle {oid}: no velocity in 1 of "
        f"{1 + len(obstacle.findall('trajectory/state'))} states; derived from the positions"
    ]
    speeds = _rows(conversion.table, oid)
    assert all(math.isfinite(v) for v in speeds["vx"])


def test_messages_name_the_file_as_given_never_a_path():
    with pytest.raises(LakeError, match=r"^the CommonRoad file: no dynamic obstacles"):
        convert_commonroad(b'<commonRoad timeStepSize="0.1"/>', "d")
