"""Every import points down: a package imports only from packages below its own layer."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Higher numbers sit higher. Packages on one layer do not import each other.
LAYERS: dict[str, int] = {
    "interfaces": 6,
    "agents": 5,
    "tables": 4,
    "services": 4,
    "streams": 3,
    "tools": 2,
    "learning": 2,
    "models": 1,
}


def imported_packages(path: Path) -> set[str]:
    """Top-level project packages that ``path`` imports, anywhere in the module."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found.update(name.split(".")[0] for name in names if name.split(".")[0] in LAYERS)
    return found


def upward_imports() -> list[str]:
    wrong = []
    for package, layer in LAYERS.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            for target in imported_packages(path) - {package}:
                if LAYERS[target] >= layer:
                    wrong.append(f"{path.relative_to(ROOT)} imports {target}")
    return wrong


def test_every_import_points_down() -> None:
    assert upward_imports() == []


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import os\nfrom interfaces.cli import main\ndef f():\n    import agents\n")
    assert imported_packages(module) == {"interfaces", "agents"}


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_every_layer_exists(package: str) -> None:
    assert (ROOT / package / "__init__.py").is_file()


def test_test_modules_have_unique_names() -> None:
    """pytest's default import mode refuses two test modules with one basename in a run."""
    seen: dict[str, list[str]] = {}
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        seen.setdefault(path.name, []).append(str(path.relative_to(ROOT)))
    clashes = {name: paths for name, paths in seen.items() if len(paths) > 1}
    assert not clashes, f"rename one of each: {clashes}"
