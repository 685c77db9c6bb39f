"""What the benchmark scripts share: progress lines, the commit measured, the interpreter, and
the arguments of the benchmarks that generate a scenario."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432"
# Progress is timed from the start of the benchmark, in the measuring processes too.
T0 = float(os.environ.setdefault("LEDGER_BENCH_T0", repr(time.time())))


def progress(message: str) -> None:
    print(f"[{time.time() - T0:7.1f}s] {message}", file=sys.stderr, flush=True)


def project_commit() -> str:
    """The project's commit, "+dirty" when tracked files differ from it (the code measured)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def ensure_project_interpreter() -> None:
    """Re-runs the script with the project's virtualenv when started with another Python."""
    try:
        import psycopg  # noqa: F401

        import ledger  # noqa: F401
    except ImportError:
        venv_python = ROOT / ".venv" / "bin" / "python"
        if venv_python.exists() and Path(sys.executable).resolve() != venv_python.resolve():
            os.execv(str(venv_python), [str(venv_python), *sys.argv])
        raise


class ProgressList(list):  # type: ignore[type-arg]
    """The validated inputs, as run_inputs iterates them: counts how far it has got."""

    done = 0

    def note(self, applied: int) -> None:  # run_inputs' on_progress
        self.done = applied

    def __iter__(self):  # type: ignore[no-untyped-def]
        for index, item in enumerate(list.__iter__(self)):
            self.done = index
            yield item
        self.done = len(self)


class PhaseClock:
    """CPU time (this process) split by phase: each wrapped call's time goes to its phase,
    less the time of the wrapped calls inside it (a save's encoding is not counted twice).
    A wrapper costs about a microsecond a call: figures are for where the time goes, not
    for throughput (that is measured without wrappers)."""

    def __init__(self, outer: str = "other") -> None:
        self.totals: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.stack: list[str] = [outer]
        self.mark = time.process_time()

    def _switch(self, phase: str | None) -> None:
        now = time.process_time()
        self.totals[self.stack[-1]] = self.totals.get(self.stack[-1], 0.0) + now - self.mark
        self.mark = now
        if phase is None:
            self.stack.pop()
        else:
            self.stack.append(phase)
            self.calls[phase] = self.calls.get(phase, 0) + 1

    def wrap(self, owner: object, name: str, phase: str) -> None:
        """Times every call of `owner.name` (a module's function, a class's or an instance's method)."""
        original = getattr(owner, name)

        def timed(*args, **kwargs):  # type: ignore[no-untyped-def]
            self._switch(phase)
            try:
                return original(*args, **kwargs)
            finally:
                self._switch(None)

        setattr(owner, name, timed)

    def stop(self) -> dict[str, float]:
        self._switch(None)
        return dict(sorted(self.totals.items(), key=lambda item: -item[1]))


def scenario_parser(
    doc: str, unit: str, full: dict[str, int], quick: dict[str, int], quick_help: str
) -> argparse.ArgumentParser:
    """The arguments of a benchmark that generates its scenario: its size (so many `unit`s
    and inputs, else the `full` preset, or the `quick` one), the seed, the PostgreSQL server
    and the output folder; each script adds its own."""
    parser = argparse.ArgumentParser(
        description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=doc
    )
    parser.add_argument(f"--{unit}", type=int, help=f"{unit} (default {full[unit]:,}; --quick {quick[unit]:,})")
    parser.add_argument("--inputs", type=int, help=f"inputs (default {full['inputs']:,}; --quick {quick['inputs']:,})")
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--postgres", default=DEFAULT_SERVER, help=f"PostgreSQL server URL (default {DEFAULT_SERVER})")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / "out",
        help="where scenario and results go (bench/out)",
    )
    return parser
