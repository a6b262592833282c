"""Disclosure tiers, redaction manifests, HMAC commitments, and the disclosure secret."""

from __future__ import annotations

from pathlib import Path

import pytest
import shapely.geometry

from monitor.disclosure import default_disclosure_path, load_disclosure
from monitor.errors import ConfigError, DisclosureKeyError
from monitor.evidence.redaction import coarsen
from monitor.secret import SECRET_ENV, DisclosureSecret, new_secret_text

SECRET_HEX = "4f" * 32


def test_default_policy_defines_three_tiers_from_most_to_least_withheld() -> None:
    policy = load_disclosure(default_disclosure_path())
    assert set(policy.tiers) == {"public", "coalition", "regulator"}
    public, coalition, regulator = (policy.tier(n) for n in ("public", "coalition",
                                                              "regulator"))
    assert public.geometry == "coarsened" and not public.rasters
    assert public.leads == "reference" and not public.names and not public.paths
    assert coalition.leads == "details" and not coalition.names and coalition.rasters
    assert regulator.leads == "full" and regulator.names and not regulator.withholds_anything()
    assert len({t.digest() for t in policy.tiers.values()}) == 3
    with pytest.raises(ConfigError, match="no tier 'press'"):
        policy.tier("press")


@pytest.mark.parametrize(("text", "expected"), [
    ("format: concession-monitor/disclosure/1\ntiers:\n  public: {rasters: false}\n"
     "  public: {rasters: true}\n", "duplicate key 'public'"),
    ("format: concession-monitor/disclosure/1\ntiers:\n  public: {raster: false}\n",
     "tiers.public.raster"),
    ("format: concession-monitor/disclosure/1\ntiers:\n  public: {leads: everything}\n",
     "tiers.public.leads"),
    ("format: concession-monitor/disclosure/1\ntiers:\n  Public/x: {}\n", "lower-case slugs"),
    ("- just a list\n", "a mapping"),
])
def test_bad_policies_are_refused_with_the_field(tmp_path: Path, text: str,
                                                 expected: str) -> None:
    path = tmp_path / "disclosure.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected) as info:
        load_disclosure(path)
    assert str(path) in str(info.value)


def test_commitments_are_keyed_labelled_and_not_plain_hashes() -> None:
    import hashlib

    a, b = DisclosureSecret(bytes.fromhex(SECRET_HEX)), DisclosureSecret(b"\x01" * 32)
    c = a.commit("lead/x/lat", "-6.3391234")
    assert c.startswith("hmac-sha256:") and len(c) == len("hmac-sha256:") + 64
    assert c == a.commit("lead/x/lat", "-6.3391234")
    assert c != a.commit("lead/y/lat", "-6.3391234")
    assert c != b.commit("lead/x/lat", "-6.3391234")
    assert c.split(":")[1] != hashlib.sha256(b"-6.3391234").hexdigest()
    assert a.opens(c, "lead/x/lat", "-6.3391234") and not a.opens(c, "lead/x/lat", "-6.34")
    assert SECRET_HEX not in repr(a) and a.key_id in repr(a)


def test_sealing_is_bound_to_its_record() -> None:
    secret = DisclosureSecret(bytes.fromhex(SECRET_HEX))
    sealed = secret.seal("Canary Person", "lead-1")
    assert b"Canary" not in sealed
    assert secret.unseal(sealed, "lead-1") == "Canary Person"
    with pytest.raises(DisclosureKeyError, match="lead-2"):
        secret.unseal(sealed, "lead-2")
    with pytest.raises(DisclosureKeyError):
        DisclosureSecret(b"\x02" * 32).unseal(sealed, "lead-1")
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(DisclosureKeyError):
        secret.unseal(tampered, "lead-1")


def test_secret_from_the_environment_and_its_errors() -> None:
    text = new_secret_text()
    assert DisclosureSecret.from_env({SECRET_ENV: text}).key_id == \
        DisclosureSecret(bytes.fromhex(text)).key_id
    import base64

    b64 = base64.urlsafe_b64encode(bytes.fromhex(text)).decode().rstrip("=")
    assert DisclosureSecret.from_env({SECRET_ENV: b64}).key_id == \
        DisclosureSecret(bytes.fromhex(text)).key_id
    with pytest.raises(DisclosureKeyError, match=r"not set.*monitor keys secret"):
        DisclosureSecret.from_env({})
    with pytest.raises(DisclosureKeyError, match="at least 32") as info:
        DisclosureSecret.from_env({SECRET_ENV: "abcd" * 4})
    assert "abcd" not in str(info.value)
    with pytest.raises(DisclosureKeyError) as info:
        DisclosureSecret.from_env({SECRET_ENV: "not a key!!"})
    assert "not a key" not in str(info.value)


def test_coarsen_covers_the_outline_with_whole_grid_cells() -> None:
    shape = shapely.geometry.Polygon([(601234, 9301234), (602345, 9301500),
                                      (601800, 9302777)])
    coarse = coarsen(shape, 1000.0)
    assert coarse.covers(shape)
    assert coarse.area % 1_000_000 == 0 and coarse.area >= 1_000_000
    xs, ys = zip(*(c for poly in getattr(coarse, "geoms", [coarse])
                   for c in poly.exterior.coords), strict=True)
    assert all(x % 1000 == 0 for x in xs) and all(y % 1000 == 0 for y in ys)
    # the outline cannot be recovered: every shape touching the same cells coarsens alike
    other = shapely.geometry.box(601100, 9301100, 602900, 9302900)
    assert coarsen(other, 1000.0).equals(coarse)


def _check_args(tmp_path: Path) -> list[str]:
    registry = Path(__file__).resolve().parents[1] / "aoi" / "demo" / "concessions.geojson"
    return ["check", "demo-clearing", "--aoi", str(registry), "--source",
            f"local:{tmp_path}", "--from", "2022-01-01", "--to", "2022-02-01"]


def test_package_options_are_checked_before_the_check_runs(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    from click.testing import CliRunner

    from monitor.cli import main

    runner = CliRunner()
    monkeypatch.delenv(SECRET_ENV, raising=False)
    lone = runner.invoke(main, [*_check_args(tmp_path), "--tier", "public", "--per-alert"])
    assert lone.exit_code == 2 and "--per-alert, --tier" in lone.output
    assert "give --package DIR" in lone.output
    no_secret = runner.invoke(main, [*_check_args(tmp_path), "--package", str(tmp_path / "p"),
                                     "--tier", "public"])
    assert no_secret.exit_code == 2 and f"{SECRET_ENV} is not set" in no_secret.stderr
    assert "checking" not in no_secret.stdout and not (tmp_path / "p").exists()
    monkeypatch.setenv(SECRET_ENV, SECRET_HEX)
    unknown = runner.invoke(main, [*_check_args(tmp_path), "--package", str(tmp_path / "p"),
                                   "--tier", "press"])
    assert unknown.exit_code == 2 and "no tier 'press'" in unknown.stderr
    # the regulator tier withholds nothing: it needs no secret
    monkeypatch.delenv(SECRET_ENV)
    regulator = runner.invoke(main, [*_check_args(tmp_path), "--package",
                                     str(tmp_path / "p"), "--tier", "regulator"])
    assert "is not set" not in regulator.stderr


def test_keys_secret_makes_a_usable_secret_and_checks_it(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    from click.testing import CliRunner

    from monitor.cli import main

    runner = CliRunner()
    made = runner.invoke(main, ["keys", "secret"])
    text = made.stdout.strip()
    assert made.exit_code == 0 and len(text) == 64 and text != runner.invoke(
        main, ["keys", "secret"]).stdout.strip()
    monkeypatch.setenv(SECRET_ENV, text)
    checked = runner.invoke(main, ["keys", "secret", "--check"])
    assert checked.exit_code == 0 and DisclosureSecret(bytes.fromhex(text)).key_id in \
        checked.stdout and text not in checked.stdout
    monkeypatch.setenv(SECRET_ENV, "short")
    bad = runner.invoke(main, ["keys", "secret", "--check"])
    assert bad.exit_code == 1 and "short" not in bad.output
