"""Exception and warning hierarchy of Concession Monitor.

Every error the library raises derives from :class:`MonitorError`; every warning from
:class:`MonitorWarning`. Messages name the file, concession, feature or scene concerned
and say how to fix the problem, in the manner of rioxarray's error tree.
"""

from __future__ import annotations


class MonitorError(Exception):
    """Root of every error raised by Concession Monitor."""


class ConfigError(MonitorError):
    """A configuration or standard file is malformed or inconsistent."""


class RegistryError(MonitorError):
    """A concession registry cannot be used.

    Parameters
    ----------
    message
        Summary of what is wrong.
    problems
        Every individual problem found, each naming the file, the feature and the fix.
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        self.problems: list[str] = list(problems or [])
        detail = "".join(f"\n  - {p}" for p in self.problems)
        super().__init__(message + detail)


class ConcessionNotFoundError(RegistryError):
    """A concession id is not in the registry."""


class SourceError(MonitorError):
    """Imagery cannot be read: corrupt, truncated, ungeoreferenced or unsupported files."""


class NoImageryError(SourceError):
    """No usable scene covers the concession in the requested period."""


class UnsupportedProductError(SourceError):
    """A product of a level or type the monitor does not process (e.g. Landsat L1TP)."""


class UnknownIndexError(MonitorError):
    """An index name is not in the registry."""


class MissingBandError(MonitorError):
    """A computation needs a band that the cube does not have."""


class SimulationError(MonitorError):
    """The synthetic portfolio generator was given impossible parameters."""


class MonitorWarning(UserWarning):
    """Root of every warning issued by Concession Monitor."""


class GeometryRepairWarning(MonitorWarning):
    """A geometry was repaired (made valid, split at the antimeridian, Z dropped)."""


class SceneSkippedWarning(MonitorWarning):
    """A scene was left out of a cube; the reason is recorded on the cube."""
