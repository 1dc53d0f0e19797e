"""Dependency direction: pipeline/ and training/ never import Django or the web app."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("package", ["pipeline", "training"])
def test_no_django_below(package):
    offenders = []
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{path.relative_to(ROOT)}: {n}"
                for n in names
                if n.split(".")[0] in ("django", "rest_framework", "celery", "annotator_web")
            ]
    assert offenders == []


def _imports(path: Path) -> list[str]:
    """Every module a file imports, at the top or inside functions (relative imports resolved)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            names += [base] + [f"{base}.{alias.name}" for alias in node.names]
    return names


# each app of the web side may use the apps below it, never one above or beside it
LAYERS = {
    "core": {"core"},
    "data": {"core", "data"},
    "work": {"core", "data", "work"},
    "densepose_io": {"core", "data", "work", "densepose_io"},
    "studies": {"core", "data", "work", "studies"},
}


@pytest.mark.parametrize("app", sorted(LAYERS))
def test_web_apps_depend_only_downwards(app):
    offenders = []
    for path in (ROOT / "annotator_web" / app).rglob("*.py"):
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] == "annotator_web" and len(parts) > 1 and parts[1] in LAYERS and parts[1] not in LAYERS[app]:
                offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert offenders == []


def test_training_imports_flow_one_way():
    """train uses evaluate (evaluation during training); evaluate and inference never import train."""
    for name in ("evaluate.py", "runs.py", "data.py", "model.py"):
        used = [n for n in _imports(ROOT / "training" / name) if n.startswith("training.train")]
        assert used == [], (name, used)
