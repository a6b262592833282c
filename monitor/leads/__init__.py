"""Community grievance leads: reported, validated, stored with their reporter protected.

A lead says that something was seen at a place on a date in a concession, and who saw
it. Location, claim and reporter are protected (RELIABILITY.md rule 9): sealed at rest,
committed to with HMAC in public, never in a repr, log line or error message::

    from monitor.leads import LeadStore, read_leads
    from monitor.secret import DisclosureSecret

    secret = DisclosureSecret.from_env()            # MONITOR_DISCLOSURE_KEY
    leads = read_leads("leads.csv", registry)       # all checked, or one LeadError
    with LeadStore("monitor-state.sqlite") as store:
        added = store.add_many(leads, secret)       # [(Lead, is_new), ...], one transaction
        store.list("demo-clearing")                 # public summaries, no secret needed
        store.get(added[0][0].lead_id, secret)      # protected fields unsealed

Modules: :mod:`~monitor.leads.model` (records, ids, commitments),
:mod:`~monitor.leads.validation` (checks and messages), :mod:`~monitor.leads.importing`
(CSV and GeoJSON files) and :mod:`~monitor.leads.store` (:class:`LeadStore`).
"""

from __future__ import annotations

from monitor.leads.importing import read_leads
from monitor.leads.model import (
    LEAD_ORIGINS,
    LEAD_STATUSES,
    PROTECTED_FIELDS,
    Lead,
    LeadInput,
    LeadSummary,
    lead_id_for,
)
from monitor.leads.store import LeadStore
from monitor.leads.validation import (
    CLI_NAMES,
    FILE_NAMES,
    MAX_CLAIM_CHARS,
    MAX_DISTANCE_KM,
    RawLead,
    check_leads,
)

__all__ = [
    "CLI_NAMES",
    "FILE_NAMES",
    "LEAD_ORIGINS",
    "LEAD_STATUSES",
    "MAX_CLAIM_CHARS",
    "MAX_DISTANCE_KM",
    "PROTECTED_FIELDS",
    "Lead",
    "LeadInput",
    "LeadStore",
    "LeadSummary",
    "RawLead",
    "check_leads",
    "lead_id_for",
    "read_leads",
]
