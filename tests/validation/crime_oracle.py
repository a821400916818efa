"""Run CommonRoad-CriMe on a CommonRoad recording (in CriMe's own virtual environment).

Not a test module: ``test_crime_oracle.py`` runs it with the Python of an isolated venv where
``commonroad-crime`` is installed (it pins protobuf 3.20, which the project cannot). Reads a
JSON request on stdin, ``{"file": path, "pairs": [[ego_id, other_id, time_step], ...]}``, and
writes per pair CriMe's HW (m) and THW (s) as JSON on stdout; a measure CriMe cannot compute
is null, with the reason beside it.
"""

import json
import logging
import math
import sys
import warnings


def main() -> None:
    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)
    from commonroad.common.file_reader import CommonRoadFileReader
    from commonroad_crime.data_structure.configuration import CriMeConfiguration
    from commonroad_crime.measure import HW, THW

    request = json.load(sys.stdin)
    scenario, _ = CommonRoadFileReader(request["file"]).open()
    ids = sorted({i for ego, other, _ in request["pairs"] for i in (ego, other)})
    # CriMe's reference path starts in the lanelet the ego is assigned to
    scenario.assign_obstacles_to_lanelets(obstacle_ids=set(ids), use_center_only=True)
    measures: dict = {}
    out = []
    for ego, other, step in request["pairs"]:
        row: dict = {}
        if ego not in measures:
            config = CriMeConfiguration()
            config.update(ego_id=ego, sce=scenario)
            try:
                measures[ego] = {"hw": HW(config), "thw": THW(config)}
            except Exception as exc:  # noqa: BLE001 - CriMe raises many kinds; the ego is left out
                measures[ego] = f"{type(exc).__name__}: {exc}"[:200]
        if isinstance(measures[ego], str):
            out.append({"error": measures[ego]})
            continue
        for name, measure in measures[ego].items():
            try:
                value = float(measure.compute(other, step, verbose=False))
            except Exception as exc:  # noqa: BLE001 - as above, the measure is left out
                row[f"{name}_error"] = f"{type(exc).__name__}: {exc}"[:200]
                value = math.nan
            row[name] = value if math.isfinite(value) else (None if math.isnan(value) else "inf")
        out.append(row)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
