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


ENGINE_MAY_IMPORT = ("pipeline.engine", "pipeline.errors")


def test_the_engine_knows_no_stage():
    """pipeline/engine/ imports only itself and pipeline.errors (plus `pipeline.__version__`): no stage, no
    layout, no report, no chat helpers — the runner hands it stage modules."""
    offending = []
    for path in sorted((ROOT / "pipeline" / "engine").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for line, module in _imported_modules(tree):
            if module.startswith("pipeline.") and not module.startswith(ENGINE_MAY_IMPORT):
                offending.append(f"{path.relative_to(ROOT)}:{line}: {module}")
    assert not offending, "pipeline/engine/ must not import:\n" + "\n".join(offending)


def test_every_stage_is_a_package_with_a_declared_way_to_run():
    from pipeline.engine.stage import RUNS, runs
    from pipeline.stages import stage_module
    from schemas.stages import STAGE_NAMES

    for name in STAGE_NAMES:
        assert (ROOT / "pipeline" / "stages" / name / "stage.py").is_file(), name
        assert runs(stage_module(name)) in RUNS
    loose = sorted(p.name for p in (ROOT / "pipeline" / "stages").glob("*.py") if p.name != "__init__.py")
    assert loose == [], f"modules loose in pipeline/stages/: {loose}"
