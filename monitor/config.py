"""Standards: versioned limits and method parameters, read strictly from YAML.

A *standard* (``configs/standards/*.yaml``, format in ``configs/README.md``) holds the
method parameters of the three indicators, the limits per zone, and the severity ladder,
under an ``id`` and a ``version`` that takes effect on an ``effective_date``. Several
versions of one id form a :class:`StandardSet`; compliance applies the version in force on
each observation date (:meth:`StandardSet.in_force`).

Reading is strict, because a standard silently read wrong is a wrong verdict:

- a duplicate key is an error (plain PyYAML keeps the last value without a word), as are
  keys that are not text (YAML 1.1 reads ``yes``/``on`` as booleans), merge keys and aliases;
- every section is a pydantic model with ``extra="forbid"``: an unknown field is an error
  that suggests the closest field name;
- numbers, booleans and texts are strict (``"10"`` is not a number, ``1`` is not ``true``,
  an unquoted ``version: 1.10`` is the number 1.1 and is refused);
- every message names the file, the line, the field path and the fix.

Only :class:`~monitor.errors.ConfigError` escapes. Inside the library a standard is the
frozen :class:`Standard` model; the indicators get frozen dataclasses from
:meth:`Standard.vegetation_params`, :meth:`Standard.water_params` and
:meth:`Standard.tailings_params`. Nothing here is global: callers pass the standard in.

This module is the entry point: it reads files, turns validation errors into those
messages, and re-exports the pieces it builds on, so callers import everything from here:

- :mod:`monitor.yamlstrict`: :class:`StrictLoader` and :func:`read_yaml` (strict YAML
  with the line of every field);
- :mod:`monitor.config_models`: :class:`Standard`, its sections and :class:`SeverityLadder`;
- :mod:`monitor.config_versions`: :class:`StandardSet` (which version is in force).
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from monitor.config_models import SeverityLadder, Standard
from monitor.config_versions import StandardSet
from monitor.errors import ConfigError
from monitor.yamlstrict import KeyPath, StrictLoader, path_text, problem_report, read_yaml

__all__ = [
    "SeverityLadder",
    "Standard",
    "StandardSet",
    "StrictLoader",
    "default_standard_path",
    "load_standard",
    "load_standards",
    "parse_standard",
    "read_yaml",
]

#: A standard file is a few kilobytes; anything much larger is not one.
MAX_FILE_BYTES = 1_000_000


# ------------------------------------------------------------------- error messages

#: Fields that live elsewhere than a user might put them.
_MOVED = {"baseline_factor": "it is a limit: set turbidity.limits.baseline_factor"}


def _model_at(path: KeyPath) -> type[BaseModel] | None:
    """The section model found at ``path`` of a standard (None when not a section)."""
    model: type[BaseModel] = Standard
    for part in path:
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        candidates = [field.annotation, *typing.get_args(field.annotation)]
        nested = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        if not nested:
            return None
        model = nested[0]
    return model


def _all_fields(model: type[BaseModel], path: KeyPath = ()) -> dict[str, list[str]]:
    """Every field name of the schema, with the paths where it is found."""
    out: dict[str, list[str]] = {}
    for name in model.model_fields:
        out.setdefault(name, []).append(path_text((*path, name)))
        sub = _model_at((*path, name))
        if sub is not None:
            for key, where in _all_fields(sub, (*path, name)).items():
                out.setdefault(key, []).extend(where)
    return out


def _line(lines: dict[KeyPath, int], path: KeyPath) -> int:
    while path and path not in lines:
        path = path[:-1]
    return lines.get(path, 1)


def _unknown_field(path: KeyPath) -> str:
    name, parent = str(path[-1]), path[:-1]
    if name in _MOVED:
        return _MOVED[name]
    model = _model_at(parent)
    allowed = list(model.model_fields) if model is not None else []
    close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    elsewhere = _all_fields(Standard).get(name)
    if elsewhere:
        return f"it belongs at {' or '.join(elsewhere)}"
    return f"allowed fields here: {', '.join(allowed)}"


def _problem(err: Any, lines: dict[KeyPath, int]) -> tuple[int, str]:
    path: KeyPath = tuple(err["loc"])
    kind: str = err["type"]
    where = path_text(path)
    if kind == "extra_forbidden":
        line = _line(lines, path)
        return line, (f"unknown field {str(path[-1])!r} at {where} (line {line}); "
                      f"{_unknown_field(path)}")
    if kind == "missing":
        line = _line(lines, path[:-1])
        hint = " (null means no limit)" if "limits" in path else ""
        return line, (f"missing field {str(path[-1])!r} at {where} (section at line {line}); "
                      f"add it{hint}")
    line = _line(lines, path)
    msg = str(err["msg"]).removeprefix("Value error, ")
    value = err.get("input")
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return line, (f"{where} (line {line}) must be a mapping of fields, got "
                      f"{type(value).__name__} {value!r:.60}")
    got = "" if isinstance(value, dict | list) else f"; got {value!r:.60} ({type(value).__name__})"
    hint = ""
    if isinstance(value, str) and kind.startswith(("float", "int")):
        hint = "; write a number without quotes"
        if "e" in value.lower():
            hint += " (YAML 1.1 reads 1e3 as text: write 1000 or 1.0e+3)"
    return line, f"{where} (line {line}): {msg}{got}{hint}"


# --------------------------------------------------------------------------- loading


def parse_standard(text: str, source: str | Path = "<string>") -> Standard:
    """Validate one standard from YAML text.

    Parameters
    ----------
    text
        The YAML document.
    source
        File name for messages and :attr:`Standard.source`.

    Returns
    -------
    Standard

    Raises
    ------
    ConfigError
        Every problem found, each with its line, field path and fix.
    """
    name = str(source)
    data, lines = read_yaml(text, name)
    if data is None:
        raise ConfigError(f"{name}: the file is empty; a standard needs id, version, "
                          "effective_date, buffer_m, min_clear_obs, vegetation_loss, "
                          "turbidity, tailings and severity (see configs/README.md)")
    if not isinstance(data, dict):
        raise ConfigError(f"{name}: line 1: a standard must be a mapping of fields, got "
                          f"{type(data).__name__}")
    try:
        standard = Standard.model_validate(data)
    except ValidationError as exc:
        found = sorted((_problem(e, lines) for e in exc.errors(include_url=False)),
                       key=lambda p: p[0])
        raise ConfigError(problem_report(name, [text for _, text in found])) from None
    standard._source = name
    return standard


def _read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise ConfigError(f"{path} is a folder; give a standard file (or use "
                              "load_standards for a folder)")
        if size > MAX_FILE_BYTES:
            raise ConfigError(f"{path}: {size} bytes is too large for a standard file "
                              f"(limit {MAX_FILE_BYTES})")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"standard file {path} does not exist") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8"
                          ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def load_standard(path: str | Path) -> Standard:
    """Read and validate one standard file.

    Parameters
    ----------
    path
        A YAML standard file.

    Returns
    -------
    Standard

    Raises
    ------
    ConfigError
        Missing, unreadable or invalid file; the message names file, line, field and fix.
    """
    p = Path(path)
    return parse_standard(_read_text(p), p)


def default_standard_path() -> Path:
    """``configs/standards/default.yaml`` of the source tree.

    ``configs/`` is data, not package data: it lives at the repository root, beside the
    ``monitor`` package (``<root>/monitor/config.py`` -> ``<root>/configs/``). The path is
    resolved from this module's own location, so it works from a checkout and an editable
    install whatever the working directory. A wheel install carries no ``configs/``: pass a
    standard file explicitly there.

    Raises
    ------
    ConfigError
        When the file is not there.
    """
    path = Path(__file__).resolve().parent.parent / "configs" / "standards" / "default.yaml"
    if not path.is_file():
        raise ConfigError(f"the default standard {path} is missing (monitor is not running "
                          "from a source tree?); pass a standard file explicitly")
    return path


def _expand(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    files: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted([*p.glob("*.yaml"), *p.glob("*.yml")])
            if not found:
                raise ConfigError(f"folder {p} holds no standard (*.yaml, *.yml)")
            files.extend(found)
        else:
            files.append(p)
    if not files:
        raise ConfigError("no standard file given")
    unique: dict[Path, Path] = {}
    for f in files:
        unique.setdefault(f.resolve(), f)
    return list(unique.values())


def load_standards(paths: str | Path | Iterable[str | Path]) -> StandardSet:
    """Read standard files and folders (every ``*.yaml``/``*.yml`` in a folder).

    Parameters
    ----------
    paths
        A file, a folder, or several of them.

    Returns
    -------
    StandardSet

    Raises
    ------
    ConfigError
        The problems of every file at once, or contradictory versions.
    """
    loaded: list[Standard] = []
    errors: list[str] = []
    for path in _expand(paths):
        try:
            loaded.append(load_standard(path))
        except ConfigError as exc:
            errors.append(str(exc))
    if errors:
        raise ConfigError("\n".join(errors))
    return StandardSet(tuple(loaded))

