"""Versions of standards: which version of a standard is in force on a date.

A standard evolves: each revision is a new file with the same ``id``, a higher ``version``
and a later ``effective_date``. :class:`StandardSet` holds the loaded versions, refuses
contradictory ones (two versions taking effect the same day, a higher version taking
effect earlier, a ``supersedes`` that does not precede), and answers which version applies:
:meth:`StandardSet.in_force` on an observation date, :meth:`StandardSet.get` by version.

Pure bookkeeping over :class:`~monitor.config_models.Standard` models: reading the files is
:func:`monitor.config.load_standards`, which returns a :class:`StandardSet`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime

from monitor.config_models import VERSION_PATTERN, Standard, version_key
from monitor.errors import ConfigError
from monitor.yamlstrict import problem_report

__all__ = ["StandardSet"]


@dataclass(frozen=True)
class StandardSet:
    """Versions of one or more standards, and which one is in force on a date.

    Parameters
    ----------
    standards
        The versions. Per id, versions must be unique, take effect on distinct dates, and
        a higher version must take effect later; ``supersedes`` must name a loaded,
        earlier version when that version is in the set.

    Raises
    ------
    ConfigError
        When the versions contradict each other.
    """

    standards: tuple[Standard, ...]

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.standards, key=lambda s: (s.id, s.effective_date)))
        object.__setattr__(self, "standards", ordered)
        problems: list[str] = []
        for sid in self.ids:
            versions = self.versions(sid)
            for older, newer in itertools.pairwise(versions):
                if older.effective_date == newer.effective_date:
                    problems.append(f"{older.ref} ({older.source}) and {newer.ref} "
                                    f"({newer.source}) both take effect on "
                                    f"{newer.effective_date}: which is in force is ambiguous")
                if version_key(older.version) >= version_key(newer.version):
                    problems.append(f"{newer.ref} ({newer.source}) takes effect after "
                                    f"{older.ref} ({older.source}) but is not a higher version")
            refs = {version_key(v.version): v for v in versions}
            for v in versions:
                old = refs.get(version_key(v.supersedes)) if v.supersedes else None
                if old is not None and old.effective_date >= v.effective_date:
                    problems.append(f"{v.ref} supersedes {old.ref} but does not take effect "
                                    "after it")
        if problems:
            raise ConfigError(problem_report("inconsistent standard versions", problems))

    @property
    def ids(self) -> list[str]:
        """The standard ids in the set, sorted."""
        return sorted({s.id for s in self.standards})

    def versions(self, standard_id: str) -> tuple[Standard, ...]:
        """Every version of ``standard_id``, by effective date."""
        return tuple(s for s in self.standards if s.id == standard_id)

    def __iter__(self) -> Iterator[Standard]:
        return iter(self.standards)

    def __len__(self) -> int:
        return len(self.standards)

    def _known(self, standard_id: str) -> tuple[Standard, ...]:
        versions = self.versions(standard_id)
        if not versions:
            loaded = ", ".join(f"{s.ref} ({s.source})" for s in self.standards) or "none"
            raise ConfigError(f"standard {standard_id!r} is not loaded (loaded: {loaded}); "
                              f"add configs/standards/{standard_id}.yaml or pass its file")
        return versions

    def get(self, standard_id: str, version: str) -> Standard:
        """One given version (``"1.0"`` and ``"1"`` are the same version)."""
        versions = self._known(standard_id)
        key = version_key(version) if VERSION_PATTERN.fullmatch(version) else None
        for s in versions:
            if version_key(s.version) == key:
                return s
        raise ConfigError(f"standard {standard_id!r} has no version {version!r}; loaded "
                          f"versions: {', '.join(s.version for s in versions)}")

    def in_force(self, standard_id: str, on: date) -> Standard:
        """The version of ``standard_id`` in force on ``on``: the latest effective date <= on.

        Raises
        ------
        ConfigError
            When the id is not loaded or no version has taken effect yet on ``on``.
        """
        day = on.date() if isinstance(on, datetime) else on
        versions = self._known(standard_id)
        current = [s for s in versions if s.effective_date <= day]
        if not current:
            first = versions[0]
            raise ConfigError(f"no version of standard {standard_id!r} is in force on {day}: "
                              f"the earliest loaded, {first.version} ({first.source}), takes "
                              f"effect on {first.effective_date}; load an older version or "
                              "check the observation dates")
        return current[-1]
