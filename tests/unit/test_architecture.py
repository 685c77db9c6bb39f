"""The floor plan, checked: no import cycles, no upward imports, the read side and the
workers apart, no project module imported inside a function (the figures that
`bench/floor_plan.py` prints), and the layer contract of pyproject.toml (`lint-imports`).

Each test says what breaks it on the branch of issue 10 that wrote it (the entry
points'): the modules other branches reorganize. They hold once every branch is merged.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FLOOR_PLAN = ROOT / "bench" / "floor_plan.py"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

Figures = dict[str, tuple[str, list[str]]]  # heading -> (its figure, the lines listed under it)


@pytest.fixture(scope="module")
def figures() -> Figures:
    """bench/floor_plan.py's output, by heading."""
    printed = subprocess.run(
        [sys.executable, str(FLOOR_PLAN), str(ROOT)], capture_output=True, text=True, check=True
    ).stdout
    found: Figures = {}
    heading = ""
    for line in printed.splitlines():
        if line.startswith("  "):
            found[heading][1].append(line.strip())
        else:
            heading, _, figure = line.rstrip(":").partition(": ")
            found[heading] = (figure, [])
    return found


def test_no_import_cycles(figures: Figures) -> None:
    # After the merge: today projections.report <-> projections.runner (the read side's branch).
    figure, cycles = figures["import cycles"]
    assert figure == "0", cycles


def test_no_upward_imports(figures: Figures) -> None:
    figure, upward = figures["upward imports (module -> module)"]
    assert figure == "0", upward


def test_the_read_side_and_the_workers_do_not_import_each_other(figures: Figures) -> None:
    # After the merge: today workers.dispatcher -> projections.database (reading the event log
    # belongs below both: the workers' and the read side's branches).
    figure, sideways = figures["imports between the read side and the workers"]
    assert figure == "0", sideways


def test_no_project_module_is_imported_inside_a_function(figures: Figures) -> None:
    # After the merge: today projections.runner -> projections.report (the read side's branch)
    # and workers.dispatcher -> workers.tasks (the workers' branch).
    figure, hidden = figures["imports inside functions (project modules)"]
    assert figure == "0", hidden


def test_the_entry_points_import_nothing_inside_a_function(figures: Figures) -> None:
    _, hidden = figures["imports inside functions (project modules)"]
    assert [line for line in hidden if line.startswith(("ledger.entrypoints", "ledger.__main__"))] == []


def test_the_layer_contract_holds() -> None:
    # After the merge: today workers.dispatcher -> projections.database, as above.
    checked = subprocess.run([str(LINT_IMPORTS)], capture_output=True, text=True, cwd=ROOT)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_module_of_the_ledger_is_on_a_floor_of_the_layer_contract() -> None:
    """A module the layer contract does not name is not checked by it: a new module directly
    under `ledger` must be put on its floor in pyproject.toml."""
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    (layers,) = [contract["layers"] for contract in contracts if contract["type"] == "layers"]
    named = {module.strip() for floor in layers for module in floor.replace("|", ":").split(":")}
    under_ledger = {
        f"ledger.{path.stem if path.is_file() else path.name}"
        for path in (ROOT / "ledger").iterdir()
        if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").exists()
    }
    assert under_ledger - named == set()
