"""DESIGN.md import rules: imports point down, and pure modules never touch I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Modules that must stay pure: computation only, no files, no network.
PURE = ["monitor/indices*.py", "monitor/summary.py", "monitor/sources/radiometry.py",
        "monitor/sources/dedupe.py", "monitor/change*.py", "monitor/zonal.py",
        "monitor/compliance", "monitor/indicators", "monitor/findings.py"]
IO_MODULES = ("rasterio", "requests", "sentinelhub", "pystac_client", "urllib", "http",
              "socket", "sqlite3", "pyogrio", "fiona", "boto3", "odc.stac")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _files(entry: str) -> list[Path]:
    matches = sorted(ROOT.glob(entry))
    assert matches, f"{entry} is listed as pure but matches nothing: update PURE"
    return sorted(f for m in matches for f in (m.rglob("*.py") if m.is_dir() else [m]))


@pytest.mark.parametrize("entry", PURE)
def test_pure_modules_import_no_io(entry: str) -> None:
    for path in _files(entry):
        bad = {m for m in _imports(path) if m.split(".")[0] in IO_MODULES or
               any(m == io or m.startswith(io + ".") for io in IO_MODULES)}
        assert not bad, f"{path.relative_to(ROOT)} is pure but imports {sorted(bad)}"


def test_imports_point_down() -> None:
    # pipelines/ never imports the CLI; the library never imports pipelines/ or the CLI
    for path in sorted((ROOT / "pipelines").rglob("*.py")):
        assert not any(m.startswith("monitor.cli") for m in _imports(path)), path
    for path in sorted((ROOT / "monitor").rglob("*.py")):
        if "cli" in path.relative_to(ROOT / "monitor").parts:
            continue
        bad = {m for m in _imports(path) if m.startswith(("monitor.cli", "pipelines"))}
        assert not bad, f"{path.relative_to(ROOT)} imports upward: {sorted(bad)}"


def test_one_exception_root() -> None:
    # every exception class the library defines derives from MonitorError/MonitorWarning
    import inspect

    import monitor.errors as errors

    for name, obj in vars(errors).items():
        if inspect.isclass(obj) and issubclass(obj, BaseException):
            assert issubclass(obj, errors.MonitorError | errors.MonitorWarning) or obj in (
                Exception, UserWarning), name
    for path in sorted((ROOT / "monitor").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert "raise Exception(" not in text and "raise Exception\n" not in text, path
