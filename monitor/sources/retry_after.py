"""The ``Retry-After`` header, read once for every HTTP source (Sentinel Hub, STAC APIs)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def parse_retry_after(value: str | None, unit: str = "s") -> float | None:
    """Seconds a ``Retry-After`` header asks for, or None when absent or unreadable.

    Parameters
    ----------
    value
        The header: a number (delta, in ``unit``; HTTP says seconds, Sentinel Hub sends
        milliseconds) or an HTTP date.
    unit
        Unit of a numeric value: ``"ms"``, or seconds for anything else.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, number / 1000.0 if unit == "ms" else number)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
