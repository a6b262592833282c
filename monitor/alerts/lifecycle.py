"""The alert state machines: lifecycle from evidence, review by people.

Lifecycle (``state``), driven by findings and by :meth:`AlertStore.resolve`::

    (new) -> provisional -> confirmed -> resolved
    (new) -> confirmed                   provisional -> resolved
    resolved -> provisional | confirmed  (reopened: an exceedance observed after the
                                          alert's last exceedance, found after resolution)

A finding confirms when its ``event_status`` is ``confirmed`` or its severity is
``warning`` or ``violation`` (SCIENCE.md section 8: ``notice`` is a provisional
exceedance). Evidence never moves an alert back from confirmed to provisional.

Review (``review``), driven by analysts with :meth:`AlertStore.review`::

    unreviewed        -> analyst_confirmed | dismissed | field_verified
    analyst_confirmed -> dismissed | field_verified
    dismissed         -> analyst_confirmed | field_verified   (a dismissal reversed)
    field_verified    -> (final: ground truth)

A dismissal needs a reason from :data:`monitor.findings.DISMISS_REASONS`, and reason
``other`` needs a note saying what it was. Review and lifecycle are independent: a
dismissed alert is still confirmed by new evidence (and the history shows both).
"""

from __future__ import annotations

from collections.abc import Mapping

from monitor.errors import InvalidReviewError, InvalidTransitionError
from monitor.findings import (
    DISMISS_REASONS,
    SEVERITIES,
    AlertState,
    Finding,
    ReviewState,
    Severity,
)

__all__ = [
    "ALERT_STATES",
    "LIFECYCLE_TRANSITIONS",
    "REVIEW_STATES",
    "REVIEW_TRANSITIONS",
    "check_resolution",
    "check_review",
    "finding_severity",
    "finding_state",
    "higher_severity",
]

ALERT_STATES: tuple[AlertState, ...] = ("provisional", "confirmed", "resolved")
REVIEW_STATES: tuple[ReviewState, ...] = (
    "unreviewed", "analyst_confirmed", "dismissed", "field_verified")
#: Lifecycle changes allowed from each state (``resolved`` leaves only on new evidence).
LIFECYCLE_TRANSITIONS: Mapping[AlertState, tuple[AlertState, ...]] = {
    "provisional": ("confirmed", "resolved"),
    "confirmed": ("resolved",),
    "resolved": ("provisional", "confirmed"),
}
#: Review changes allowed from each review state.
REVIEW_TRANSITIONS: Mapping[ReviewState, tuple[ReviewState, ...]] = {
    "unreviewed": ("analyst_confirmed", "dismissed", "field_verified"),
    "analyst_confirmed": ("dismissed", "field_verified"),
    "dismissed": ("analyst_confirmed", "field_verified"),
    "field_verified": (),
}


def finding_state(finding: Finding) -> AlertState:
    """Lifecycle state a finding supports on its own: ``confirmed`` or ``provisional``."""
    if finding.event_status == "confirmed" or finding.severity in ("warning", "violation"):
        return "confirmed"
    return "provisional"


def finding_severity(finding: Finding) -> Severity:
    """The finding's severity, or the ladder's default for its state when it has none."""
    if finding.severity is not None:
        return finding.severity
    return "warning" if finding_state(finding) == "confirmed" else "notice"


def higher_severity(a: Severity, b: Severity) -> Severity:
    """The higher of two severities on the ladder ``notice < warning < violation``."""
    return a if SEVERITIES.index(a) >= SEVERITIES.index(b) else b


def _allowed(options: tuple[str, ...]) -> str:
    return ", ".join(options) if options else "none (final state)"


def check_resolution(alert_id: str, state: AlertState) -> None:
    """Raise :class:`InvalidTransitionError` unless an alert in ``state`` may be resolved."""
    if state == "resolved":
        raise InvalidTransitionError(
            f"alert {alert_id} is already resolved; a resolved alert reopens only when a "
            f"newer exceedance is recorded (allowed transitions from resolved by hand: none)")


def check_review(alert_id: str, current: ReviewState, target: str,
                 reason: str | None, note: str | None) -> ReviewState:
    """Validate a review request and return the target review state.

    Parameters
    ----------
    alert_id
        The alert (named in errors).
    current
        Its current review state.
    target
        Requested review state.
    reason, note
        The analyst's reason and note.

    Returns
    -------
    ReviewState
        ``target``, validated.

    Raises
    ------
    InvalidReviewError
        Unknown target, a dismissal without a reason from the list, or reason ``other``
        without a note.
    InvalidTransitionError
        The change is not allowed from ``current``.
    """
    reviewable = REVIEW_STATES[1:]
    if target not in reviewable:
        raise InvalidReviewError(
            f"alert {alert_id}: unknown review state {target!r}; use one of "
            f"{', '.join(reviewable)}")
    state: ReviewState = target
    if state == "dismissed":
        if reason not in DISMISS_REASONS:
            given = "no reason" if not reason else f"reason {reason!r}"
            raise InvalidReviewError(
                f"alert {alert_id}: a dismissal needs a reason from the list, got {given}; "
                f"allowed reasons: {', '.join(DISMISS_REASONS)}")
        if reason == "other" and not (note and note.strip()):
            raise InvalidReviewError(
                f"alert {alert_id}: dismissal reason 'other' needs a note saying what it was")
    if state not in REVIEW_TRANSITIONS[current]:
        raise InvalidTransitionError(
            f"alert {alert_id} is {current}; it cannot become {state} "
            f"(allowed from {current}: {_allowed(REVIEW_TRANSITIONS[current])})")
    return state
