"""The direction of dependencies between the apps, as `make lint` checks it (import-linter).

The contracts live in pyproject.toml. The project itself must keep them; and the same contracts,
applied to a small tree of packages with the project's app names, must report an upward import
and a cycle, so the check can fail.
"""

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def contracts_config() -> dict:
    with (ROOT / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)["tool"]["importlinter"]


def lint_imports(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", *args],
        cwd=cwd,
        env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_project_keeps_its_contracts():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_every_app_is_in_the_direction_contract():
    config = contracts_config()
    (direction,) = [c for c in config["contracts"] if c["type"] == "layers"]
    apps = {path.parent.name for path in ROOT.glob("*/apps.py")} | {"config"}
    assert set(direction["layers"]) == apps
    # the standalone witness is no app: its own contract keeps it free of Django and the apps
    assert set(config["root_packages"]) == apps | {"witness"}
    (alone,) = [c for c in config["contracts"] if c.get("source_modules") == ["witness"]]
    assert alone["type"] == "forbidden" and "django" in alone["forbidden_modules"]
    assert direction["layers"][:2] == ["config", "demo"]
    assert direction["layers"][-1] == "projects"


def _write_toml(value) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_write_toml(item) for item in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _tree(tmp_path: Path, imports: dict[str, str]) -> Path:
    """A package per root package of the project's contracts and per package whose modules a
    contract names as ancestors; ``imports`` maps a module to the module it imports. The
    imports the contracts ignore exist too, so none is unmatched."""
    config = contracts_config()
    lines = ["[tool.importlinter]"]
    lines += [
        f"{key} = {_write_toml(value)}" for key, value in config.items() if key != "contracts"
    ]
    for contract in config["contracts"]:
        lines.append("[[tool.importlinter.contracts]]")
        lines += [f"{key} = {_write_toml(value)}" for key, value in contract.items()]
    (tmp_path / "pyproject.toml").write_text("\n".join(lines) + "\n")
    wanted = list(imports.items())
    for contract in config["contracts"]:
        for ignored in contract.get("ignore_imports", []):
            importer, imported = (part.strip() for part in ignored.split("->"))
            wanted.append((importer, imported))
    packages = set(config["root_packages"])
    for contract in config["contracts"]:
        packages.update(contract.get("ancestors", []))  # packages inside an app, too
    for package in sorted(packages):
        folder = tmp_path.joinpath(*package.split("."))
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "__init__.py").write_text("")
    for importer, imported in wanted:
        for module in (importer, imported):
            path = tmp_path.joinpath(*module.split(".")).with_suffix(".py")
            if not path.exists():
                path.write_text("")
        path = tmp_path.joinpath(*importer.split(".")).with_suffix(".py")
        path.write_text(path.read_text() + f"import {imported}\n")
    return tmp_path


def test_a_tree_that_keeps_the_direction_passes(tmp_path):
    tree = _tree(tmp_path, {"ui.views": "reports.selectors", "demo.seed": "ui.views"})
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("projects.models", "evidence.models"),
        ("evidence.ledger", "compliance.services"),
        ("reports.package", "ui.views"),
        ("ui.views", "demo.seed"),
        ("validation.services", "config.settings"),
    ],
)
def test_an_upward_import_fails(tmp_path, importer, imported):
    result = lint_imports(_tree(tmp_path, {importer: imported}))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN" in result.stdout
    assert f"{importer} -> {imported}" in result.stdout


def test_a_cycle_between_apps_fails(tmp_path):
    tree = _tree(
        tmp_path, {"compliance.services": "evidence.ledger", "evidence.ledger": "compliance.models"}
    )
    result = lint_imports(tree)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "evidence.ledger -> compliance.models" in result.stdout


@pytest.mark.parametrize(
    ("package", "first", "second"),
    [
        ("compliance", "compliance.services", "compliance.links"),
        ("validation.execution", "validation.execution.local", "validation.execution.cases"),
    ]
    + [
        # every package split out of a long module is checked like an app
        (package, f"{package}.one", f"{package}.two")
        for package in (
            "compliance.commits",
            "compliance.interchange",
            "compliance.reqif",
            "validation.lake",
            "validation.openscenario",
            "reports.gsn",
            "reports.pdf",
        )
    ],
)
def test_a_cycle_inside_an_app_fails(tmp_path, package, first, second):
    tree = _tree(tmp_path, {first: second, second: first})
    result = lint_imports(tree)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"No cycles are allowed in {package}." in result.stdout
