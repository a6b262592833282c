"""Alerts: the store (SQLite), their lifecycle and review, and exports for partners.

An exceedance :class:`~monitor.findings.Finding` with an event onset raises an alert
keyed by ``Finding.alert_key``; later findings of the same event confirm, escalate or
reopen it; analysts review it; every change is logged with who, when and why::

    from monitor.alerts import AlertStore, export_alerts

    with AlertStore("monitor-state.sqlite") as store:
        summary = store.record(findings, run_id="2024-06")   # idempotent
        store.review(alert_id, "dismissed", "ana", reason="cloud_or_shadow_artefact")
        store.history(alert_id)                              # who, when, why
        export_alerts(store, "alerts.gpkg")                  # also .parquet .geojson .csv

Modules: :mod:`~monitor.alerts.model` (records, partner confidence codes),
:mod:`~monitor.alerts.lifecycle` (state machines), :mod:`~monitor.alerts.schema` (SQLite
schema and pragmas), :mod:`~monitor.alerts.store` (:class:`AlertStore`) and
:mod:`~monitor.alerts.export` (files).
"""

from __future__ import annotations

from monitor.alerts.export import EXPORT_FORMATS, ExportResult, alerts_frame, export_alerts
from monitor.alerts.lifecycle import (
    ALERT_STATES,
    LIFECYCLE_TRANSITIONS,
    REVIEW_STATES,
    REVIEW_TRANSITIONS,
)
from monitor.alerts.model import Alert, RecordSummary, Transition
from monitor.alerts.schema import SCHEMA_VERSION
from monitor.alerts.store import DEFAULT_BUSY_TIMEOUT_S, AlertStore

__all__ = [
    "ALERT_STATES",
    "DEFAULT_BUSY_TIMEOUT_S",
    "EXPORT_FORMATS",
    "LIFECYCLE_TRANSITIONS",
    "REVIEW_STATES",
    "REVIEW_TRANSITIONS",
    "SCHEMA_VERSION",
    "Alert",
    "AlertStore",
    "ExportResult",
    "RecordSummary",
    "Transition",
    "alerts_frame",
    "export_alerts",
]
