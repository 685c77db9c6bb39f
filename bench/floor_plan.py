"""Prints figures of the floor plan: isinstance dispatch chains, import cycles,
upward imports, imports hidden inside functions, and the largest modules.

    python bench/floor_plan.py [ROOT]

A dispatch chain is a function that tests one expression against three or more
types with `isinstance`. Layers, lowest first: the domain, the command side and
processes (`ledger`), the read side and the workers (which import neither
the other), the entry points (`ledger.entrypoints`). An upward
import is one from a lower layer into a higher one; a cycle is a set of modules
that import one another, directly or through others (imports inside functions
included).
"""

from __future__ import annotations

import ast
import sys
from collections import Counter
from pathlib import Path

PACKAGES = ("ledger", "projections", "workers")
ENTRY_POINTS = ("ledger.entrypoints", "ledger.__main__")
MIN_CHAIN = 3


def layer(module: str) -> int:
    if module.startswith(ENTRY_POINTS):
        return 3
    if module.startswith(("projections", "workers")):
        return 2
    if module.startswith("ledger.domain"):
        return 0
    return 1


def modules(root: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def resolve(name: str, known: dict[str, Path]) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def imports(module: str, path: Path, known: dict[str, Path]) -> list[tuple[str, bool]]:
    """(imported module, inside a function) for each import of a project module."""
    tree = ast.parse(path.read_text())
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    package = (
                        module.split(".")[: -child.level or None]
                        if not path.name == "__init__.py"
                        else module.split(".")[: len(module.split(".")) - child.level + 1]
                    )
                    base = ".".join([*package, base] if base else package)
                names = [f"{base}.{alias.name}" for alias in child.names] or [base]
            for name in names:
                target = resolve(name, known)
                if target is not None and target != module:
                    found.append((target, in_function))
            visit(child, nested)

    visit(tree, False)
    return found


def dispatch_chains(path: Path) -> list[tuple[str, int]]:
    """(function, branches) for each function testing one expression against MIN_CHAIN or more types."""
    tree = ast.parse(path.read_text())
    chains: list[tuple[str, int]] = []
    for function in ast.walk(tree):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        tested: Counter[str] = Counter()
        for node in ast.walk(function):
            if isinstance(node, (ast.If, ast.IfExp)):
                for call in ast.walk(node.test):
                    if isinstance(call, ast.Call) and getattr(call.func, "id", None) == "isinstance" and call.args:
                        tested[ast.unparse(call.args[0])] += 1
        if tested and max(tested.values()) >= MIN_CHAIN:
            chains.append((function.name, max(tested.values())))
    return chains


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(10_000)

    def connect(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def main(root: Path) -> None:
    known = modules(root)
    graph: dict[str, set[str]] = {}
    upward: list[tuple[str, str]] = []
    sideways: list[tuple[str, str]] = []
    in_functions: list[tuple[str, str]] = []
    for module, path in known.items():
        for target, in_function in imports(module, path, known):
            graph.setdefault(module, set()).add(target)
            if layer(target) > layer(module):
                upward.append((module, target))
            elif layer(target) == layer(module) == 2 and module.split(".")[0] != target.split(".")[0]:
                sideways.append((module, target))
            if in_function:
                in_functions.append((module, target))
    chains = [(module, name, branches) for module, path in known.items() for name, branches in dispatch_chains(path)]
    sizes = sorted(((len(path.read_text().splitlines()), module) for module, path in known.items()), reverse=True)
    print(f"modules: {len(known)}, lines: {sum(size for size, _ in sizes)}")
    print(
        f"isinstance dispatch chains (>= {MIN_CHAIN} types on one expression): {len(chains)}, "
        f"most branches: {max((b for *_, b in chains), default=0)}"
    )
    for module, name, branches in sorted(chains):
        print(f"  {module}.{name}: {branches}")
    found_cycles = cycles(graph)
    print(f"import cycles: {len(found_cycles)}")
    for cycle in found_cycles:
        print("  " + " <-> ".join(cycle))
    print(f"upward imports (module -> module): {len(set(upward))}")
    for module, target in sorted(set(upward)):
        print(f"  {module} -> {target}")
    print(f"imports between the read side and the workers: {len(set(sideways))}")
    for module, target in sorted(set(sideways)):
        print(f"  {module} -> {target}")
    print(f"imports inside functions (project modules): {len(set(in_functions))}")
    for module, target in sorted(set(in_functions)):
        print(f"  {module} -> {target}")
    print("largest modules (lines):")
    for size, module in sizes[:8]:
        print(f"  {size:5d} {module}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve())
