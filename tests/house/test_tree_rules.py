"""The test tree's own rules, checked so a move or a new file cannot break them silently.

Tests run in pytest's prepend import mode: a folder without `__init__.py` goes on sys.path and its modules
import under their bare file name. Two such files with one name shadow each other (the second is a
different module under the same name: pytest stops with an import-mismatch error, or a helper silently
resolves to the wrong file)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def bare_name_modules() -> dict[str, list[Path]]:
    """Modules imported by their bare name (in a folder that is not a package), by name."""
    found: dict[str, list[Path]] = defaultdict(list)
    for path in TESTS.rglob("*.py"):
        if "__pycache__" in path.parts or path.name == "conftest.py":
            continue  # pytest keeps each conftest apart by its path
        if any(
            (TESTS / parent / "__init__.py").exists()
            for parent in path.relative_to(TESTS).parents
            if parent != Path(".")
        ):
            continue  # inside a package: imported as package.module
        found[path.stem].append(path.relative_to(TESTS))
    return found


def test_no_two_bare_name_modules_share_a_name():
    clashes = {name: paths for name, paths in bare_name_modules().items() if len(paths) > 1}
    assert not clashes, f"rename one of each: {clashes}"


def test_the_check_sees_the_test_folders():
    names = bare_name_modules()
    assert "test_kit" in names and "test_tree_rules" in names
