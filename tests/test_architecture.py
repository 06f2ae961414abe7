"""ARCHITECTURE.md's floors, held: a module imports only modules of its own floor or below (anywhere in
the file, lazy imports included); stages never import the runner; only the Ray executor imports Ray;
and every module of the package is in ARCHITECTURE.md."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "curate"

# module (dotted, without `curate.`) or package prefix ending in "." -> floor
FLOORS = {
    "cli": 5, "__main__": 5,
    "api": 4, "results": 4, "testing": 4, "training": 4, "demo": 4, "report.": 4,
    "runner.": 3, "config": 3,
    "stages.": 2, "exporting": 2, "graph": 2, "rewards": 2,
    "io.": 1, "llm.": 1, "answers.": 1, "text.": 1, "rules.": 1, "kernels.": 1, "tables": 1,
    "columns": 0, "layout": 0, "engine": 0, "errors": 0, "faults": 0, "safe_yaml": 0, "__init__": 0,
}


def _name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1] + ["__init__"]
    return ".".join(parts)


def _floor(module: str) -> int:
    for key in sorted(FLOORS, key=len, reverse=True):
        if (key.endswith(".") and (module + ".").startswith(key)) or module == key:
            return FLOORS[key]
    raise AssertionError(f"curate.{module} has no floor in tests/test_architecture.py (add it there and to ARCHITECTURE.md)")


def _imports(path: Path) -> set[str]:
    """Every curate module the file imports (absolute names without `curate.`), anywhere in it."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            if node.module == "curate":  # from curate import faults
                found.update(f"curate.{a.name}" for a in node.names)
    return {m.removeprefix("curate.") for m in found if m.startswith("curate.")} | ({"__init__"} if "curate" in found else set())


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _resolves(name: str) -> bool:
    return (PACKAGE / (name.replace(".", "/") + ".py")).exists() or (PACKAGE / name.replace(".", "/") / "__init__.py").exists()


def test_every_module_imports_only_its_floor_or_below():
    upward = []
    for path in _modules():
        module = _name(path)
        floor = _floor(module)
        for imported in _imports(path):
            if not _resolves(imported):
                continue  # a name imported from a package's __init__ (`from curate import DROP`)
            if _floor(imported) > floor:
                upward.append(f"curate.{module} (floor {floor}) imports curate.{imported} (floor {_floor(imported)})")
    assert not upward, "\n".join(upward)


def test_stages_never_import_the_runner_and_only_the_ray_executor_imports_ray():
    for path in _modules():
        module = _name(path)
        tree = ast.parse(path.read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        if module.startswith("stages."):
            assert not any(n.startswith("curate.runner") for n in names), f"curate.{module} imports the runner"
        if module != "runner.ray_executor":
            assert not any(n == "ray" or n.startswith("ray.") for n in names), f"curate.{module} imports Ray"


def test_architecture_md_names_every_module():
    text = (ROOT / "ARCHITECTURE.md").read_text()
    named = set(re.findall(r"`([A-Za-z_/<>]+\.py|[a-z]+/)`", text))
    missing = []
    for path in _modules():
        relative = path.relative_to(PACKAGE).as_posix()
        package = relative.split("/")[0] + "/" if "/" in relative else None
        if path.name == "__init__.py" and package:
            continue
        in_table = relative in named or path.name in named or (package in named and package in ("kernels/", "io/", "rules/", "stages/"))
        if relative.startswith("stages/") and path.name not in ("base.py", "__init__.py"):
            in_table = True  # `stages/<use>.py`
        if not in_table:
            missing.append(relative)
    assert not missing, f"ARCHITECTURE.md does not name: {', '.join(missing)}"
