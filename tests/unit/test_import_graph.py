"""No import cycles in streams/: every import counts, a function's own (lazy) imports too, so a cycle
can't hide behind a lazy import. Imports only for type checkers (`if TYPE_CHECKING:`) don't run."""

from __future__ import annotations

import ast
from pathlib import Path

STREAMS = Path(__file__).resolve().parents[2] / "streams"


def module_name(path: Path) -> str:
    parts = path.relative_to(STREAMS.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in STREAMS.rglob("*.py")}


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node except what sits under `if TYPE_CHECKING:`."""
    found: list[ast.AST] = []
    pending = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            pending.extend(node.orelse)
            continue
        found.append(node)
        pending.extend(ast.iter_child_nodes(node))
    return found


def imports_of(name: str) -> set[str]:
    tree = ast.parse(MODULES[name].read_text())
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            # `from streams.formats import segment` imports a module, not a name from the package.
            submodules = {f"{base}.{alias.name}" for alias in node.names} & MODULES.keys()
            found |= submodules
            if len(submodules) < len(node.names):
                found.add(base)
    # Importing streams.formats.base runs streams/formats/__init__.py first, and what it imports:
    # a module's packages count too, except the importer's own, which are being imported already.
    own = {name.rsplit(".", depth)[0] for depth in range(1, name.count(".") + 1)}
    found |= {
        target.rsplit(".", depth)[0] for target in list(found) for depth in range(1, target.count(".") + 1)
    } - own
    return {target for target in found if target in MODULES and target != name}


def cycles() -> list[list[str]]:
    graph = {name: imports_of(name) for name in MODULES}
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                found.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)
    return found


def test_no_module_of_streams_is_part_of_an_import_cycle() -> None:
    assert cycles() == []


def test_the_graph_sees_lazy_imports_and_skips_type_checking_ones() -> None:
    assert "streams.classify.jurisdiction" in imports_of("streams.pipeline")  # a module-level import
    assert "streams.service.wiring" in imports_of("streams.cli.run")  # inside a command's function
    assert "streams.outcomes" not in imports_of("streams.audit")  # only under TYPE_CHECKING


def package_of(name: str) -> str:
    """streams.route.plan → route; a module at the root is its own: streams.pipeline → pipeline."""
    return name.split(".")[1] if "." in name else name


def package_cycles() -> list[list[str]]:
    """Cycles between the packages of streams/: the layout's arrows must all point one way."""
    graph: dict[str, set[str]] = {}
    for name in MODULES:
        graph.setdefault(package_of(name), set()).update(
            package_of(target) for target in imports_of(name) if package_of(target) != package_of(name)
        )
    found: list[list[str]] = []
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(package: str) -> None:
        state[package] = 1
        path.append(package)
        for target in sorted(graph.get(package, ())):
            if state.get(target) == 1:
                found.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[package] = 2

    for package in sorted(graph):
        if package not in state:
            visit(package)
    return found


def test_the_packages_import_one_way() -> None:
    """docs/architecture.md draws the packages with every arrow pointing down; this keeps it true."""
    assert package_cycles() == []


def _module_level_imports(name: str) -> set[str]:
    """What importing the module runs at once: its imports outside functions."""
    tree = ast.parse(MODULES[name].read_text())
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_the_runtime_never_imports_the_development_tools() -> None:
    """The runtime image leaves streams/devtools out (Dockerfile): only the dev commands reach it, lazily."""
    reaching = {
        name
        for name in MODULES
        if not name.startswith("streams.devtools")
        and any(target.startswith("streams.devtools") for target in imports_of(name))
    }
    assert reaching == {"streams.cli.dev"}
    assert not [t for t in _module_level_imports("streams.cli.dev") if t.startswith("streams.devtools")]
