"""The package's shape: no import cycles, short functions, each module reading only its own settings."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mlcheatsheet"
MAX_FUNCTION_LINES = 80


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """Package modules that ``path`` imports, at module level or inside functions."""
    tree = ast.parse(path.read_text())
    here = module_name(path)
    package = here if is_package(path) else here.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(max(node.level - 1, 0)):
                base = base.rpartition(".")[0]
            target = f"{base}.{node.module}" if node.level and node.module else (base if node.level else node.module or "")
            candidates = [target] + [f"{target}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        found |= {name for name in candidates if name in known and name != here}
    return found


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    known = {module_name(p) for p in paths}
    graph = {module_name(p): imported_modules(p, known) for p in paths}
    # Importing a submodule runs its package's __init__ first; that edge is not a dependency
    # of the submodule on its siblings, so a package's own __init__ is left out of the graph
    # of its children.
    return {name: {t for t in targets if not name.startswith(t + ".")} for name, targets in graph.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_package_has_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("module", ["mlcheatsheet.runtime", "mlcheatsheet.metrics"])
def test_low_level_modules_do_not_reach_up_into_training(module: str) -> None:
    graph = import_graph()
    reachable, todo = set(), [module]
    while todo:
        for nxt in graph[todo.pop()] - reachable:
            reachable.add(nxt)
            todo.append(nxt)
    assert not {m for m in reachable if m.startswith(("mlcheatsheet.training", "mlcheatsheet.site.budgets"))}, reachable


def test_no_function_is_longer_than_a_screen() -> None:
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, "functions longer than 80 lines: " + "; ".join(long)


@pytest.mark.parametrize(
    ("variable", "owner"),
    [("MLCHEATSHEET_MODE", "budgets.py"), ("MLCHEATSHEET_DATASET", "budgets.py"),
     ("MLCHEATSHEET_DEVICE", "runtime.py"), ("MLCHEATSHEET_THREADS", "runtime.py"),
     ("MLCHEATSHEET_CACHE", "cache.py"), ("MLCHEATSHEET_RUN_KEY", "report.py")],
)
def test_each_build_setting_is_read_in_one_module(variable: str, owner: str) -> None:
    readers = [p.name for p in PACKAGE.rglob("*.py") if f'"{variable}"' in p.read_text()]
    assert readers == [owner]


def test_the_readme_snippet_runs_as_printed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    readme = (PACKAGE.parent / "README.md").read_text()
    section = readme.split("## Using the package", 1)[1]
    code = section.split("```python", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)  # it writes mlp.pt where it runs
    exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "held-out accuracy" in printed and (tmp_path / "mlp.pt").is_file()
