"""``monitor keys`` and ``monitor verify``: signing keys and offline package verification.

``monitor verify`` exit codes: 0 when every check passed, 1 when any failed, 2 bad usage.
Nothing here ever prints key material: only paths and fingerprints.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from monitor.errors import MonitorError, SigningKeyError
from monitor.evidence.reproduce import reproduce_package
from monitor.evidence.signing import (
    fingerprint,
    generate_keypair,
    load_private_key,
    load_public_key,
)
from monitor.evidence.verify import VerifyReport, verify_package
from monitor.secret import SECRET_ENV, DisclosureSecret, new_secret_text

__all__ = ["keys", "verify_command"]

#: Where ``monitor keys init`` puts keys unless --dir or MONITOR_KEY_DIR says otherwise.
DEFAULT_KEY_DIR = Path("~/.config/concession-monitor/keys")
_STATUS_STYLE = {"pass": "green", "fail": "bold red", "skipped": "yellow", "notice": "yellow"}


def _console(stderr: bool = False) -> Console:
    console = Console(highlight=False, stderr=stderr)
    return console if console.is_terminal else Console(width=160, highlight=False, stderr=stderr)


@click.group()
def keys() -> None:
    """Keys: Ed25519 signing keys for packages, and the disclosure secret."""


@keys.command("init")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              envvar="MONITOR_KEY_DIR", default=DEFAULT_KEY_DIR, show_default=True,
              show_envvar=True, help="Folder of the key pair (created mode 0700).")
@click.option("--name", default="monitor", show_default=True,
              help="Base name: writes NAME.key (private, mode 0600) and NAME.pub.")
@click.option("--force", is_flag=True, help="Replace an existing key pair of that name.")
def init_command(directory: Path, name: str, force: bool) -> None:
    """Create an Ed25519 key pair for signing evidence packages.

    Prints where the two files are and the key's fingerprint; never the key itself.
    Keep NAME.key secret; publish NAME.pub (or its fingerprint) so that others can check
    who signed a package with `monitor verify PACKAGE --public-key NAME.pub`.
    """
    try:
        pair = generate_keypair(directory.expanduser(), name, force=force)
    except SigningKeyError as exc:
        _console(stderr=True).print(Text("error: ", style="bold red") + Text(str(exc)))
        raise SystemExit(1) from None
    out = _console()
    out.print(Text("private key  ", style="bold") + Text(f"{pair.private_path}  (mode 0600: "
                                                         "keep it secret, back it up)"))
    out.print(Text("public key   ", style="bold") + Text(f"{pair.public_path}  (publish it)"))
    out.print(Text("fingerprint  ", style="bold") + Text(pair.fingerprint))


@keys.command("fingerprint")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def fingerprint_command(file: Path) -> None:
    """Print the fingerprint of a public (.pub/.pem) or private (.key) key FILE."""
    try:
        try:
            key = load_public_key(file)
        except SigningKeyError:
            key = load_private_key(file).public_key()
    except SigningKeyError as exc:
        _console(stderr=True).print(Text("error: ", style="bold red") + Text(str(exc)))
        raise SystemExit(1) from None
    click.echo(fingerprint(key))


@keys.command("secret")
@click.option("--check", "check_env", is_flag=True,
              help=f"Do not make one: check that ${SECRET_ENV} is usable and print its id.")
def secret_command(check_env: bool) -> None:
    """Print a new random disclosure secret (for HMAC commitments and sealed leads).

    Store it like a password and export it as MONITOR_DISCLOSURE_KEY where packages are
    built and leads are recorded; never put it in a config file. Losing it means sealed
    lead details can no longer be opened. With --check, print only the public id of the
    secret in the environment (the key_id recorded in redaction manifests).
    """
    if not check_env:
        click.echo(new_secret_text())
        return
    try:
        secret = DisclosureSecret.from_env()
    except MonitorError as exc:
        _console(stderr=True).print(Text("error: ", style="bold red") + Text(str(exc)))
        raise SystemExit(1) from None
    click.echo(f"{SECRET_ENV} is usable; key id {secret.key_id}")


def _print_report(report: VerifyReport) -> None:
    """Render the checks as a table, then the verdict."""
    console = _console()
    table = Table(title=Text(f"Evidence package {report.package}"))
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail", overflow="fold")
    for check in report.checks:
        status = check.status or ("pass" if check.ok else "fail")
        table.add_row(check.name, Text(status.upper(), style=_STATUS_STYLE[status]),
                      Text(check.detail))
    console.print(table)
    if report.ok:
        console.print(Text("VERIFIED: every check passed.", style="bold green"))
    else:
        names = ", ".join(c.name for c in report.failed)
        console.print(Text(f"NOT VERIFIED: {len(report.failed)} check(s) failed ({names}).",
                           style="bold red"))


@click.command("verify")
@click.argument("package", type=click.Path(exists=True, path_type=Path))
@click.option("--public-key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The publisher's public key (PEM), obtained independently of the package. "
                   "Without it the package's own key is trusted as self-asserted.")
@click.option("--reproduce", is_flag=True,
              help="Also re-run the check from the package's provenance and compare every "
                   "number (needs the imagery, the registry and the standard).")
@click.option("--source", help="With --reproduce: the imagery source on this machine, when "
                               "not where the package says (e.g. local:PATH).")
@click.option("--aoi", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="With --reproduce: the registry file (its sha256 must match).")
@click.option("--standard", type=click.Path(exists=True, path_type=Path),
              help="With --reproduce: the standard file or folder (its digest must match).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object and nothing else.")
def verify_command(package: Path, public_key: Path | None, reproduce: bool, source: str | None,
                   aoi: Path | None, standard: Path | None, as_json: bool) -> None:
    """Verify the evidence package PACKAGE offline and print what failed.

    Runs full BagIt validation (every checksum recomputed), checks that no file was added
    or removed, that the Ed25519 signature over the tag manifest is valid, that the key's
    fingerprint is the one recorded, that the key is --public-key when given, and the
    STAC item and JSON documents. With --reproduce, the check is run again from the
    package's provenance and every finding compared (outcomes, severities and counts
    exactly; values within 0.01 of their unit). Exit 0 only when every check passed, 1
    otherwise.
    """
    if not reproduce and (source or aoi or standard):
        raise click.UsageError("--source, --aoi and --standard go with --reproduce")
    bagit_logger = logging.getLogger("bagit")
    if bagit_logger.getEffectiveLevel() >= logging.WARNING:
        bagit_logger.setLevel(logging.CRITICAL)  # its warnings repeat what the table says
    report = verify_package(package, public_key=public_key)
    if reproduce:
        extra = reproduce_package(package, source=source, aoi=aoi, standard=standard)
        report = replace(report, ok=report.ok and all(c.ok for c in extra),
                         checks=[*report.checks, *extra])
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        _print_report(report)
    raise SystemExit(0 if report.ok else 1)

