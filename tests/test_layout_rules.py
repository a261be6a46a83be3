"""Layout rules: schemas/ is a leaf (it never imports pipeline), and pipeline/ keeps few top-level modules."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_TOP_LEVEL_MODULES = 10


def _imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every import statement anywhere in the tree, including inside functions."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def test_schemas_never_import_pipeline():
    files = sorted((ROOT / "schemas").rglob("*.py"))
    assert files
    offending = [f"{path.relative_to(ROOT)}:{line}: {module}"
                 for path in files
                 for line, module in _imported_modules(ast.parse(path.read_text(encoding="utf-8")))
                 if module == "pipeline" or module.startswith("pipeline.")]
    assert not offending, "schemas/ must not import pipeline:\n" + "\n".join(offending)


def test_the_checker_sees_imports_inside_functions():
    tree = ast.parse("def f():\n    from pipeline.errors import UserError\n    import pipeline\n")
    assert [m for _, m in _imported_modules(tree)] == ["pipeline.errors", "pipeline"]


def test_few_modules_at_the_top_of_pipeline():
    modules = sorted(p.name for p in (ROOT / "pipeline").glob("*.py"))
    assert len(modules) <= MAX_TOP_LEVEL_MODULES, f"{len(modules)} modules at the top of pipeline/: {modules}"
