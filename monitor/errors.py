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


class SourceUnavailableError(SourceError):
    """An imagery service failed, stalled or refused after bounded retries (retry later).

    A check that meets it gives no verdict: an outage is never read as "compliant".
    """


class SourceAuthError(SourceError):
    """An imagery service rejected the credentials (the message never repeats the secret)."""


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


class AlertError(MonitorError):
    """Root of the alert store's errors (store, lifecycle, review, export)."""


class AlertStoreError(AlertError):
    """The alert store cannot be opened, read or written.

    Raised for a file that is not an alert store, a schema newer than this version of the
    monitor, a finding that cannot be stored (e.g. a geometry without a CRS), or an I/O
    failure. The message names the store file and says how to fix the problem.
    """


class AlertStoreBusyError(AlertStoreError):
    """Another writer kept the alert store locked past the busy timeout (retryable)."""


class AlertNotFoundError(AlertError):
    """No alert with the given id is in the store."""


class InvalidTransitionError(AlertError):
    """A lifecycle or review change the alert's current state does not allow.

    The message names the alert, its current state and the transitions allowed from it.
    """


class InvalidReviewError(InvalidTransitionError):
    """A review without what it requires (e.g. a dismissal without a listed reason)."""


class AlertExportError(AlertError):
    """Alerts cannot be exported (unknown format, unwritable folder, writer failure)."""


class IndicatorResultError(MonitorError):
    """An indicator result breaks its contract (columns, concession, indicator or dates).

    Raised by :mod:`monitor.compliance`; it points at a bug in an indicator, not at data.
    """


class EvidenceError(MonitorError):
    """An evidence package cannot be built, signed or read."""


class SigningKeyError(EvidenceError):
    """A signing or public key is missing, unreadable or of the wrong kind."""


class LedgerError(MonitorError):
    """The run ledger cannot be opened, read or written (the message names the file)."""


class LedgerBusyError(LedgerError):
    """Another run kept the ledger locked past the busy timeout (retryable)."""


class LeaseError(LedgerError):
    """A unit of work is not leased by this run (it expired and was taken over)."""


class ReportWriteError(MonitorError):
    """An indicator report's files cannot be written (the message names the folder)."""


class DisclosureError(MonitorError):
    """A disclosure tier, redaction or community lead cannot be applied or stored."""


class DisclosureKeyError(DisclosureError):
    """The disclosure secret (HMAC commitments, sealed lead details) is missing or unusable."""


class LeadError(DisclosureError):
    """A community lead is invalid, unknown, or cannot be stored or read.

    Messages name the lead (its id or row number) and the field, never a protected value.
    """
