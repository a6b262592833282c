"""Build every package a check calls for: the check, each alert, each disclosure tier.

``monitor check --package DIR [--per-alert] [--tier NAME ...]`` and ``monitor leads
check`` call :func:`publish`. Without tiers it builds the full package(s) into ``DIR``;
with tiers, each tier's packages go to ``DIR/<tier>/`` (``full`` names the unredacted
package, built into ``DIR`` itself). Every package is built, signed and published on its
own (:func:`monitor.evidence.package.build_package`), so a failure leaves the packages
already published intact and no partial one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from monitor.checking import CheckResult
from monitor.disclosure import DisclosurePolicy
from monitor.errors import ConfigError
from monitor.evidence.citations import LeadCitation
from monitor.evidence.package import PackageInfo, build_package
from monitor.evidence.redaction import TierRequest
from monitor.secret import DisclosureSecret

__all__ = ["FULL", "alert_ids", "publish", "tier_requests"]

#: The name of the unredacted edition among tier names.
FULL = "full"


def alert_ids(result: CheckResult) -> list[str]:
    """The alerts a check's findings raise, sorted."""
    return sorted({f.alert_key for f in result.findings if f.alert_key})


def tier_requests(names: Sequence[str], policy: DisclosurePolicy,
                  secret: DisclosureSecret | None) -> list[TierRequest | None]:
    """The tiers named (None stands for :data:`FULL`), in the order given, once each.

    Raises
    ------
    ConfigError
        If a name is not a tier of ``policy``.
    DisclosureKeyError
        If a tier withholds something and ``secret`` is None.
    """
    out: list[TierRequest | None] = []
    for name in dict.fromkeys(names):
        if name == FULL:
            out.append(None)
            continue
        request = TierRequest(name, policy.tier(name), secret)
        if request.rules.withholds_anything():
            request.require_secret()
        out.append(request)
    if not out:
        raise ConfigError("no tier named: give --tier NAME (e.g. public) or leave it out")
    return out


def publish(result: CheckResult, out_dir: Path, *, key: Path | None = None,
            per_alert: bool = False, tiers: Sequence[TierRequest | None] = (None,),
            citations: Sequence[LeadCitation] = (),
            progress: Callable[[str], None] | None = None) -> list[PackageInfo]:
    """Build the check's package, and each alert's with ``per_alert``, in every tier.

    Parameters
    ----------
    result
        A check made by :func:`monitor.check`.
    out_dir
        Output folder.
    key
        Ed25519 private key to sign with (None: unsigned).
    per_alert
        Also build one package per alert the check's findings raise.
    tiers
        Editions to build: None for the full package, or :class:`TierRequest` s.
    citations
        Community leads the check answers.
    progress
        Called with a short message before each package.

    Returns
    -------
    list of PackageInfo
        In build order: per tier, the check's package then each alert's.
    """
    say = progress or (lambda _msg: None)
    scopes: list[str | None] = [None] + (alert_ids(result) if per_alert else [])
    built = []
    for tier in tiers:
        for alert_id in scopes:
            say(f"{tier.name if tier else FULL} package"
                + (f" of alert {alert_id}" if alert_id else ""))
            built.append(build_package(result, out_dir, key=key, alert_id=alert_id,
                                       citations=citations, tier=tier))
    return built
