"""Vendored front-end files match static/vendor/manifest.json. No network needed."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "static" / "vendor"
SCRIPT = ROOT / "scripts" / "vendor.py"
BOOKKEEPING = {"manifest.json", "packages.json"}

EXPECTED = {
    # package: (version, vendored file, marker that the file's text must contain)
    "htmx.org": ("2.0.11", "htmx.min.js", 'version:"2.0.11"'),
    "chart.js": ("4.6.1", "chart.umd.min.js", "Chart.js v4.6.1"),
    "chartjs-plugin-annotation": (
        "3.1.0",
        "chartjs-plugin-annotation.min.js",
        "chartjs-plugin-annotation v3.1.0",
    ),
}


def sri_sha384(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode("ascii")


@pytest.fixture(scope="module")
def manifest() -> list[dict[str, str]]:
    return json.loads((VENDOR / "manifest.json").read_text(encoding="utf-8"))


def test_manifest_lists_expected_packages_with_licences(manifest):
    by_package = {entry["package"]: entry for entry in manifest}
    assert len(by_package) == len(manifest), "a package is listed twice"
    assert set(by_package) == set(EXPECTED)
    for package, (version, file, _marker) in EXPECTED.items():
        entry = by_package[package]
        assert set(entry) == {"package", "version", "license", "file", "sha384"}
        assert entry["version"] == version, package
        assert entry["file"] == file, package
        assert isinstance(entry["license"], str) and entry["license"].strip(), package


def test_vendored_files_are_the_named_releases(manifest):
    for entry in manifest:
        _version, _file, marker = EXPECTED[entry["package"]]
        text = (VENDOR / entry["file"]).read_text(encoding="utf-8")
        assert marker in text, f"{entry['file']} is not {entry['package']}@{entry['version']}"


def test_every_file_matches_its_sha384(manifest):
    for entry in manifest:
        assert entry["sha384"].startswith("sha384-")
        data = (VENDOR / entry["file"]).read_bytes()
        assert sri_sha384(data) == entry["sha384"], f"{entry['file']}: sha384 mismatch"


def test_every_vendored_file_is_in_the_manifest(manifest):
    listed = {entry["file"] for entry in manifest}
    present = {
        p.name
        for p in VENDOR.iterdir()
        if p.is_file() and p.name not in BOOKKEEPING and not p.name.endswith(".LICENSE.txt")
    }
    assert present - listed == set(), "files in static/vendor missing from manifest.json"
    assert listed - present == set(), "manifest.json lists files that are not there"


def test_manifest_matches_packages_json(manifest):
    wanted = json.loads((VENDOR / "packages.json").read_text(encoding="utf-8"))
    assert [(w["package"], w["version"], w["target"]) for w in wanted] == [
        (e["package"], e["version"], e["file"]) for e in manifest
    ]


def _run_check(vendor_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--check", "--vendor-dir", str(vendor_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_mode_passes_on_the_repository():
    result = _run_check(VENDOR)
    assert result.returncode == 0, result.stderr


def test_check_mode_names_a_tampered_file(tmp_path):
    copy = tmp_path / "vendor"
    shutil.copytree(VENDOR, copy)
    with (copy / "chart.umd.min.js").open("ab") as f:
        f.write(b"\n/* tampered */\n")
    result = _run_check(copy)
    assert result.returncode == 1
    assert "chart.umd.min.js" in result.stderr
    assert "htmx.min.js" not in result.stderr
