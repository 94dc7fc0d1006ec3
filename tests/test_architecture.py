"""The package's modules import one another without circles.

A circle (a screen importing the app that imports the screen, even only for type hints) ties
the modules in it together: none can be read, tested or changed alone. grimp (which
import-linter uses) builds the import graph, imports under TYPE_CHECKING included; every
strongly connected group of modules is a circle, and each is printed as one concrete loop.
"""

from __future__ import annotations

import grimp

PACKAGE = "cwsandbox_tui"


def import_circles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The groups of modules that reach one another (Tarjan's algorithm, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [
            (root, sorted(graph.find_modules_directly_imported_by(root)))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, todo = work[-1]
            if todo:
                target = todo.pop()
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, sorted(graph.find_modules_directly_imported_by(target))))
                elif target in on_stack:
                    low[module] = min(low[module], index[target])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[module])
            if low[module] == index[module]:
                group: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == module:
                        break
                if len(group) > 1 or module in graph.find_modules_directly_imported_by(module):
                    groups.append(sorted(group))
    return groups


def one_loop(graph: grimp.ImportGraph, group: list[str]) -> list[str]:
    """A concrete circle through the group's first module: it, what it imports, ..., it."""
    start = group[0]
    if len(group) == 1:
        return [start, start]
    for target in sorted(graph.find_modules_directly_imported_by(start)):
        if target in group:
            chain = graph.find_shortest_chain(importer=target, imported=start)
            if chain is not None:
                return [start, *chain]
    return group


def describe(graph: grimp.ImportGraph, groups: list[list[str]]) -> str:
    lines = []
    for group in groups:
        loop = one_loop(graph, group)
        lines.append(f"{len(group)} modules in a circle, e.g. " + " -> ".join(loop))
        for importer in loop[:-1]:
            imported = loop[loop.index(importer) + 1]
            for detail in graph.get_import_details(importer=importer, imported=imported)[:1]:
                lines.append(f"    {importer}:{detail['line_number']}  {detail['line_contents']}")
    return "\n".join(lines)


def test_the_package_has_no_import_circle() -> None:
    graph = grimp.build_graph(PACKAGE)
    groups = import_circles(graph)
    assert not groups, "import circles:\n" + describe(graph, groups)


def test_a_circle_is_found_and_shown() -> None:
    """The check itself: a graph with a circle of three and a self-import fails, naming them."""
    graph = grimp.ImportGraph()
    for importer, imported in (("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.c", "p.d"),
                               ("p.e", "p.e")):
        graph.add_import(importer=importer, imported=imported, line_number=1,
                         line_contents=f"import {imported}")
    groups = import_circles(graph)
    assert groups == [["p.a", "p.b", "p.c"], ["p.e"]]
    text = describe(graph, groups)
    assert "p.a -> p.b -> p.c -> p.a" in text
    assert "p.c:1  import p.a" in text
