"""The house's floor plan: Keydrop's modules import each other without a circle, and none is too long.

Every import counts, at the top of a module or inside a function: an import moved into a function
to dodge a circle is still the circle. Only imports for type checkers (``if TYPE_CHECKING:``) are
left out, since they never run. Dependencies point one way: intake → keys → Django, and keys never
imports intake.
"""

import ast
import functools
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
APPS = ("portal", "keys", "intake")
MAX_LINES = 450


@functools.cache
def module_files() -> dict[str, pathlib.Path]:
    files = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            files[name] = path
    return files


def is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: pathlib.Path, name: str, modules: set[str]) -> set[str]:
    """The project modules this one imports: ``from a import b`` is a.b where that is a module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()

    def visit(node):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and is_type_checking(child):
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names if alias.name in modules)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    base = ".".join(
                        package.split(".")[: len(package.split(".")) - child.level + 1] + ([base] if base else [])
                    )
                for alias in child.names:
                    target = f"{base}.{alias.name}"
                    if target in modules:
                        found.add(target)
                    elif base in modules:
                        found.add(base)
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    found.discard(name)
    return found


@functools.cache
def import_graph() -> dict[str, set[str]]:
    files = module_files()
    return {name: imports_of(path, name, set(files)) for name, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle, as the list of modules around it, or None (depth-first, three colours)."""
    colour, stack = dict.fromkeys(graph, 0), []

    def walk(node):
        colour[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if colour[nxt] == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if colour[nxt] == 0:
                cycle = walk(nxt)
                if cycle:
                    return cycle
        stack.pop()
        colour[node] = 2
        return None

    for node in sorted(graph):
        if colour[node] == 0:
            cycle = walk(node)
            if cycle:
                return cycle
    return None


def test_no_module_imports_itself_through_others():
    cycle = find_cycle(import_graph())
    assert cycle is None, "an import circle: " + " → ".join(cycle)


def test_keys_never_imports_intake():
    graph = import_graph()
    crossing = {
        (a, b) for a, targets in graph.items() if a.startswith("keys") for b in targets if b.startswith("intake")
    }
    assert crossing == set()


def test_the_kinds_are_data_and_load_no_http_client():
    graph = import_graph()
    reached, todo = set(), ["keys.kinds"]
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo.extend(graph[module])
    assert not any(module.startswith("keys.instructure") for module in reached), sorted(reached)


@pytest.mark.parametrize("name", sorted(module_files()))
def test_no_module_is_over_450_lines(name):
    lines = len(module_files()[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines: split it by concern"


def test_the_detector_finds_a_circle_hidden_in_a_function(tmp_path):
    # A test that cannot fail is a defect: the same reading finds an import dodged into a function.
    path = tmp_path / "b.py"
    path.write_text("def late():\n    from a import thing\n")
    graph = {"a": {"b"}, "b": imports_of(path, "b", {"a", "b"})}
    assert find_cycle(graph) == ["a", "b", "a"]
