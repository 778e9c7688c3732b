"""The shape the code promises in docs/design.md: modules small enough to read whole,
every write to the jobs table in the protocol module, and counters that any layer may
call. (The layers themselves are import-linter's contract in `make lint`.)"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp

from syncbeat import counters
from syncbeat.vocabulary.status import RunEnd

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "syncbeat"
PROTOCOL = PACKAGE / "store" / "protocol.py"
MAX_LINES = 400


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)


def test_no_module_of_the_package_is_over_400_lines() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in _modules()
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def _jobs_writes(tree: ast.AST) -> list[int]:
    """Lines that call ``jobs.update()``, ``jobs.insert()`` or ``jobs.delete()``, on the
    jobs table however it was imported (``jobs`` or ``schema.jobs``)."""
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in ("update", "insert", "delete"):
            continue
        target = node.func.value
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if name == "jobs":
            found.append(node.lineno)
    return found


def test_every_write_to_the_jobs_table_is_in_the_protocol_module() -> None:
    elsewhere = {
        str(p.relative_to(PACKAGE)): lines
        for p in _modules()
        if p != PROTOCOL and (lines := _jobs_writes(ast.parse(p.read_text())))
    }
    assert not elsewhere, f"jobs-table writes outside store/protocol.py: {elsewhere}"
    assert _jobs_writes(ast.parse(PROTOCOL.read_text())), "the check finds nothing at all"


def test_the_counters_know_every_way_a_run_ends() -> None:
    """counters.py imports nothing of syncbeat, so it spells the run ends itself."""
    assert set(counters.RUN_OUTCOMES) == {str(end) for end in RunEnd}


def test_no_module_imports_itself_back_through_any_path() -> None:
    """import-linter checks the layers and the siblings of each package; this looks at the
    whole graph, module by module, imports inside functions and under TYPE_CHECKING
    included: no strongly connected set of more than one module."""
    graph = grimp.build_graph("syncbeat")
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        order[module] = low[module] = len(order)
        stack.append(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in order:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], order[imported])
        if low[module] == order[module]:
            circle = []
            while True:
                member = stack.pop()
                circle.append(member)
                if member == module:
                    break
            if len(circle) > 1:
                circles.append(sorted(circle))

    for module in sorted(graph.modules):
        if module not in order:
            visit(module)
    assert not circles, f"import circles: {circles}"
