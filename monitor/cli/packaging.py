"""Options shared by the commands that build evidence packages (check, leads check).

``--package DIR`` builds the check's package, ``--per-alert`` adds one per alert,
``--tier NAME`` (repeatable) builds the named disclosure tiers of the policy
``--disclosure FILE`` (default ``configs/disclosure.yaml``) instead of the full package, and
``--key FILE`` (or ``$MONITOR_SIGNING_KEY``) signs them. Problems with any of these are
found before the check runs, so a long check never ends in a usage error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from monitor.disclosure import load_disclosure
from monitor.errors import MonitorError
from monitor.evidence.publish import FULL, tier_requests
from monitor.evidence.redaction import TierRequest
from monitor.evidence.signing import fingerprint_of_private_key
from monitor.secret import DisclosureSecret

__all__ = ["KEY_ENV", "PackagePlan", "package_options", "plan_packages"]

KEY_ENV = "MONITOR_SIGNING_KEY"
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class PackagePlan:
    """What to build after the check: where, signed with what, which editions."""

    out_dir: Path
    key: Path | None
    per_alert: bool
    tiers: tuple[TierRequest | None, ...]


def package_options(func: F) -> F:
    """Add --package, --per-alert, --tier, --disclosure and --key to a command."""
    options = [
        click.option("--package", "package_dir", type=click.Path(file_okay=False,
                     path_type=Path), help="Build the evidence package (a BagIt bag) into "
                     "this folder."),
        click.option("--per-alert", is_flag=True, help="Also build one package per alert "
                     "the check raises."),
        click.option("--tier", "tiers", multiple=True, metavar="NAME",
                     help=f"Build this disclosure tier (repeatable; '{FULL}' is the "
                     "unredacted package, the default) into DIR/NAME/."),
        click.option("--disclosure", type=click.Path(exists=True, dir_okay=False,
                     path_type=Path), help="Disclosure policy (default: "
                     "configs/disclosure.yaml)."),
        click.option("--key", type=click.Path(dir_okay=False, path_type=Path),
                     envvar=KEY_ENV, show_envvar=True, help="Ed25519 private key to sign "
                     f"packages with (default: ${KEY_ENV}); without one they are unsigned."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def plan_packages(package_dir: Path | None, per_alert: bool, tiers: Sequence[str],
                  disclosure: Path | None, key: Path | None) -> PackagePlan | None:
    """Check the package options before the check runs; None when no package is asked.

    Raises
    ------
    click.UsageError
        If a package option is given without --package.
    MonitorError
        If the key, the policy, a tier or the disclosure secret is unusable.
    """
    ctx = click.get_current_context()
    key_given = ctx.get_parameter_source("key") == ParameterSource.COMMANDLINE
    if package_dir is None:
        extra = [name for name, given in (("--key", key_given), ("--per-alert", per_alert),
                                          ("--tier", bool(tiers)),
                                          ("--disclosure", disclosure is not None)) if given]
        if extra:
            raise click.UsageError(f"{', '.join(extra)} shape the evidence package: give "
                                   "--package DIR too")
        return None
    if key is not None:
        fingerprint_of_private_key(key)  # a bad key fails now, not after the check
    requests: list[TierRequest | None] = [None]
    if tiers and list(tiers) != [FULL]:
        policy = load_disclosure(disclosure)
        secret = _secret_if_needed(tiers, policy)
        requests = tier_requests(tiers, policy, secret)
    return PackagePlan(package_dir, key, per_alert, tuple(requests))


def _secret_if_needed(tiers: Sequence[str], policy: Any) -> DisclosureSecret | None:
    needs = any(name != FULL and policy.tier(name).withholds_anything() for name in tiers)
    try:
        return DisclosureSecret.from_env()
    except MonitorError:
        if needs:
            raise
        return None
