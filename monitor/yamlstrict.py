"""Strict YAML reading: refuse what would silently change a document's meaning.

Plain PyYAML keeps the last of two duplicate keys without a word, reads ``yes``/``on`` as
booleans even as keys, and expands merge keys and aliases. For a configuration that decides
verdicts (the standards of :mod:`monitor.config`) each of these is an error here:

- :class:`StrictLoader` is a ``yaml.SafeLoader`` refusing duplicate keys, non-text keys and
  merge keys, and turning a bad scalar (``2020-13-01``) into a marked error;
- :func:`read_yaml` parses one document with it, also refuses aliases and several
  documents, records the line of every field path (for messages) and raises
  :class:`~monitor.errors.ConfigError` listing every problem with its line.

The message helpers :func:`path_text` and :func:`problem_report` are shared with the
validation messages of :mod:`monitor.config`. Nothing here knows what a standard is.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from monitor.errors import ConfigError

__all__ = ["KeyPath", "StrictLoader", "path_text", "problem_report", "read_yaml"]

_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"

#: The path of a field in a document: mapping keys and sequence indices.
KeyPath = tuple[str | int, ...]


def _key_problems(node: MappingNode) -> list[tuple[Node, str, str]]:
    """Keys of one mapping that would change its meaning silently: (key, what, fix)."""
    problems: list[tuple[Node, str, str]] = []
    first: dict[str, Node] = {}
    for key, _value in node.value:
        if key.tag == _MERGE_TAG:
            problems.append((key, "merge key '<<'", "merge keys are not allowed: write the "
                                                    "fields out"))
        elif not (isinstance(key, ScalarNode) and key.tag == _STR_TAG):
            shown = key.value if isinstance(key, ScalarNode) else f"a {key.id}"
            kind = key.tag.rsplit(":", 1)[-1]
            problems.append((key, f"key {shown!r} read by YAML as {kind}",
                             "field names are text (yes/no/on/off are booleans): quote it or "
                             "rename it"))
        elif key.value in first:
            line = first[key.value].start_mark.line + 1
            problems.append((key, f"duplicate key {key.value!r}",
                             f"the first is at line {line} and PyYAML would silently keep the "
                             "last value: remove one of them"))
        else:
            first[key.value] = key
    return problems


class StrictLoader(yaml.SafeLoader):
    """A ``yaml.SafeLoader`` that rejects duplicate keys, non-text keys and merge keys.

    Usable directly (``yaml.load(text, Loader=StrictLoader)``): it raises
    ``yaml.constructor.ConstructorError`` with the line of the offending key. Standard files
    go through :func:`read_yaml`, which also records the line of every field.
    """

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        """Construct a mapping after checking its keys."""
        for key, what, fix in _key_problems(node):
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark, f"{what}: {fix}",
                key.start_mark)
        return super().construct_mapping(node, deep=deep)

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        """Construct a value; a bad scalar (e.g. ``2020-13-01``) becomes a marked error."""
        try:
            return super().construct_object(node, deep=deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, OverflowError, ArithmeticError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {node.value!r:.40} as "
                f"{node.tag.rsplit(':', 1)[-1]} ({exc})", node.start_mark) from None


def path_text(path: KeyPath) -> str:
    """A field path for messages: ``a.b.0``, or ``(top level)`` for the root."""
    return ".".join(str(p) for p in path) if path else "(top level)"


def problem_report(source: str, problems: list[str]) -> str:
    """``<source>: N problem(s)`` followed by one indented line per problem."""
    n = len(problems)
    head = f"{source}: {n} problem{'s' if n > 1 else ''}"
    return head + "".join(f"\n  - {p}" for p in problems)


def _index(node: Node, path: KeyPath, line: int, lines: dict[KeyPath, int],
           seen: set[int], problems: list[str]) -> None:
    """Record the line of every field path; collect key problems and aliases."""
    if id(node) in seen:
        problems.append(f"alias at {path_text(path)} (line {node.start_mark.line + 1}): "
                        "anchors and aliases (&name, *name) are not allowed; write the value out")
        return
    seen.add(id(node))
    lines[path] = line
    if isinstance(node, MappingNode):
        bad_keys = _key_problems(node)
        bad = {id(k) for k, _, _ in bad_keys}
        for key, what, fix in bad_keys:
            mark = key.start_mark
            problems.append(f"{what} at {path_text(path)} (line {mark.line + 1}, "
                            f"column {mark.column + 1}); {fix}")
        for key, value in node.value:
            if id(key) not in bad:
                _index(value, (*path, key.value), key.start_mark.line + 1, lines, seen, problems)
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, (*path, i), item.start_mark.line + 1, lines, seen, problems)


def read_yaml(text: str, source: str = "<string>") -> tuple[Any, dict[KeyPath, int]]:
    """Parse one YAML document strictly and map every field path to its line.

    Parameters
    ----------
    text
        The YAML text.
    source
        File name for messages.

    Returns
    -------
    data, lines
        The parsed document (None when empty) and ``{("a", "b"): line}`` for every key
        (1-based lines; the root ``()`` is line 1).

    Raises
    ------
    ConfigError
        Invalid YAML, duplicate or non-text keys, merge keys, aliases, or several documents.
    """
    try:
        loader = StrictLoader(text)  # reads the text already: may raise
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines: dict[KeyPath, int] = {}
        problems: list[str] = []
        _index(node, (), 1, lines, set(), problems)
        if problems:
            raise ConfigError(problem_report(source, problems))
        return loader.construct_document(node), lines
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown line"
        what = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"{source}: {where}: {what}; fix the YAML") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply to be a standard file") from None
    finally:
        loader.dispose()
