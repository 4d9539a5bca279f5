"""Vendor third-party front-end files into static/vendor/ and keep a manifest of them.

The app must run with no network at run time, under a strict CSP (script-src 'self'),
so every JavaScript file it uses is copied into static/vendor/ from the exact npm
release named in static/vendor/packages.json, and static/vendor/manifest.json records,
for each file, its package, version, licence and SRI hash (sha384).

Modes:
  (default)  fetch: for each entry of packages.json, run `npm pack PKG@VERSION` in a
             temporary directory (npm checks the tarball against the registry's
             integrity hash), take the named file out of the tarball, write it to
             static/vendor/<target>, copy the package's LICENSE file (if any) to
             static/vendor/<package>.LICENSE.txt, and rewrite manifest.json.
             Needs npm and the npm registry.
  --check    verify: recompute the sha384 of every vendored file and compare it with
             manifest.json; also check that manifest.json matches packages.json and
             that no unlisted file sits in static/vendor/. Exits 1, naming each
             offending file, on any mismatch. Needs no network.

See docs/vendoring.md.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VENDOR_DIR = ROOT / "static" / "vendor"
PACKAGES_FILE = "packages.json"
MANIFEST_FILE = "manifest.json"
LICENSE_SUFFIX = ".LICENSE.txt"
# Files in the vendor directory that are not vendored assets themselves.
BOOKKEEPING_FILES = {PACKAGES_FILE, MANIFEST_FILE}

_NPM_NAME = re.compile(r"^(@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*$")
_EXACT_VERSION = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$")
_TARGET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_LICENSE_FILE = re.compile(r"^licen[cs]e(\.(md|txt|markdown))?$", re.IGNORECASE)


class VendorError(Exception):
    """A problem with packages.json, a tarball or the vendored files."""


def sri_sha384(data: bytes) -> str:
    """Return the Subresource Integrity form of the sha384 of data: 'sha384-<base64>'."""
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode("ascii")


def license_file_name(package: str) -> str:
    """File name for a package's licence text: '@scope/name' becomes 'scope__name'."""
    return package.lstrip("@").replace("/", "__") + LICENSE_SUFFIX


def load_packages(vendor_dir: Path) -> list[dict[str, str]]:
    """Read and validate packages.json: a list of {package, version, file, target}."""
    path = vendor_dir / PACKAGES_FILE
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise VendorError(f"{path}: not found") from exc
    except json.JSONDecodeError as exc:
        raise VendorError(f"{path}: invalid JSON: {exc}") from exc
    if not isinstance(entries, list):
        raise VendorError(f"{path}: expected a JSON list of packages")
    targets: set[str] = set()
    for i, entry in enumerate(entries):
        where = f"{path}: entry {i}"
        if not isinstance(entry, dict):
            raise VendorError(f"{where}: expected an object")
        for key in ("package", "version", "file", "target"):
            if not isinstance(entry.get(key), str) or not entry[key]:
                raise VendorError(f"{where}: missing or empty string field {key!r}")
        if not _NPM_NAME.match(entry["package"]):
            raise VendorError(f"{where}: not an npm package name: {entry['package']!r}")
        if not _EXACT_VERSION.match(entry["version"]):
            raise VendorError(f"{where}: version must be exact (x.y.z): {entry['version']!r}")
        file_parts = entry["file"].split("/")
        if entry["file"].startswith("/") or ".." in file_parts:
            raise VendorError(f"{where}: file must be a relative path inside the package")
        target = entry["target"]
        if (
            not _TARGET_NAME.match(target)
            or target in BOOKKEEPING_FILES
            or target.endswith(LICENSE_SUFFIX)
        ):
            raise VendorError(f"{where}: bad target file name: {target!r}")
        if target in targets:
            raise VendorError(f"{where}: target {target!r} used twice")
        targets.add(target)
    return entries


def load_manifest(vendor_dir: Path) -> list[dict[str, str]]:
    path = vendor_dir / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise VendorError(f"{path}: not found; run scripts/vendor.py first") from exc
    except json.JSONDecodeError as exc:
        raise VendorError(f"{path}: invalid JSON: {exc}") from exc
    if not isinstance(manifest, list) or not all(isinstance(e, dict) for e in manifest):
        raise VendorError(f"{path}: expected a JSON list of objects")
    return manifest


def npm_pack(package: str, version: str, workdir: Path) -> Path:
    """Download PACKAGE@VERSION's tarball into workdir with `npm pack`; return its path."""
    spec = f"{package}@{version}"
    try:
        subprocess.run(
            ["npm", "pack", spec, "--silent", "--ignore-scripts"],
            cwd=workdir,
            check=True,
            capture_output=True,
            text=True,
        )
    except FileNotFoundError as exc:
        raise VendorError("npm not found on PATH") from exc
    except subprocess.CalledProcessError as exc:
        raise VendorError(f"npm pack {spec} failed:\n{exc.stderr.strip()}") from exc
    tarballs = sorted(workdir.glob("*.tgz"))
    if len(tarballs) != 1:
        raise VendorError(f"npm pack {spec}: expected one tarball, found {len(tarballs)}")
    return tarballs[0]


def _read_member(tar: tarfile.TarFile, name: str) -> bytes | None:
    try:
        member = tar.getmember(name)
    except KeyError:
        return None
    if not member.isfile():
        return None
    extracted = tar.extractfile(member)
    return extracted.read() if extracted is not None else None


def _license_of(package_json: dict, spec: str) -> str:
    lic = package_json.get("license")
    if isinstance(lic, dict):  # old form: {"type": "MIT", "url": ...}
        lic = lic.get("type")
    if not lic and isinstance(package_json.get("licenses"), list):  # older form
        types = [x.get("type") for x in package_json["licenses"] if isinstance(x, dict)]
        lic = " OR ".join(t for t in types if t)
    if not isinstance(lic, str) or not lic.strip():
        raise VendorError(f"{spec}: package.json declares no licence")
    return lic.strip()


def vendor_one(entry: dict[str, str], vendor_dir: Path) -> dict[str, str]:
    """Fetch one package and write its file (and licence text); return its manifest entry."""
    package, version = entry["package"], entry["version"]
    spec = f"{package}@{version}"
    with tempfile.TemporaryDirectory(prefix="vendor-") as tmp:
        tarball = npm_pack(package, version, Path(tmp))
        # Members are read into memory by exact name: nothing is extracted to disk.
        with tarfile.open(tarball, "r:gz") as tar:
            names = tar.getnames()
            root = names[0].split("/", 1)[0] if names else "package"
            raw_pj = _read_member(tar, f"{root}/package.json")
            if raw_pj is None:
                raise VendorError(f"{spec}: no package.json in tarball")
            package_json = json.loads(raw_pj)
            if package_json.get("name") != package or package_json.get("version") != version:
                raise VendorError(
                    f"{spec}: tarball is {package_json.get('name')}@{package_json.get('version')}"
                )
            license_id = _license_of(package_json, spec)
            data = _read_member(tar, f"{root}/{entry['file']}")
            if data is None:
                dist = sorted(n for n in names if n.startswith(f"{root}/dist/"))
                hint = "\n  ".join(dist[:40])
                raise VendorError(
                    f"{spec}: no file {entry['file']!r} in tarball; files under dist/:\n  {hint}"
                )
            license_names = sorted(
                n for n in names if n.count("/") == 1 and _LICENSE_FILE.match(n.split("/")[1])
            )
            license_text = _read_member(tar, license_names[0]) if license_names else None

    _write_atomic(vendor_dir / entry["target"], data)
    license_path = vendor_dir / license_file_name(package)
    if license_text is not None:
        _write_atomic(license_path, license_text)
    else:
        print(f"warning: {spec} ships no LICENSE file", file=sys.stderr)
        license_path.unlink(missing_ok=True)
    return {
        "package": package,
        "version": version,
        "license": license_id,
        "file": entry["target"],
        "sha384": sri_sha384(data),
    }


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def unlisted_files(vendor_dir: Path, manifest: list[dict[str, str]]) -> list[str]:
    """Files in vendor_dir that are neither listed in the manifest nor bookkeeping."""
    listed = {e.get("file") for e in manifest}
    return sorted(
        p.name
        for p in vendor_dir.iterdir()
        if p.is_file()
        and p.name not in listed
        and p.name not in BOOKKEEPING_FILES
        and not p.name.endswith(LICENSE_SUFFIX)
    )


def fetch(vendor_dir: Path) -> int:
    entries = load_packages(vendor_dir)
    manifest = []
    for entry in entries:
        print(f"vendoring {entry['package']}@{entry['version']}: {entry['file']}")
        manifest.append(vendor_one(entry, vendor_dir))
    text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    _write_atomic(vendor_dir / MANIFEST_FILE, text.encode("utf-8"))
    print(f"wrote {vendor_dir / MANIFEST_FILE} ({len(manifest)} files)")
    stale = unlisted_files(vendor_dir, manifest)
    if stale:
        print(
            "warning: files in static/vendor not in packages.json (delete them): "
            + ", ".join(stale),
            file=sys.stderr,
        )
        return 1
    return 0


def check(vendor_dir: Path) -> list[str]:
    """Return a list of problems (empty when the vendored files match the manifest)."""
    problems: list[str] = []
    manifest = load_manifest(vendor_dir)
    for entry in manifest:
        name = entry.get("file")
        if not isinstance(name, str) or not _TARGET_NAME.match(name):
            problems.append(f"manifest entry with bad file name: {entry!r}")
            continue
        for key in ("package", "version", "license", "sha384"):
            if not entry.get(key):
                problems.append(f"{name}: manifest entry has no {key}")
        path = vendor_dir / name
        if not path.is_file():
            problems.append(f"{name}: listed in manifest but missing")
            continue
        actual = sri_sha384(path.read_bytes())
        if actual != entry.get("sha384"):
            problems.append(
                f"{name}: sha384 mismatch (manifest {entry.get('sha384')}, file {actual})"
            )
    for name in unlisted_files(vendor_dir, manifest):
        problems.append(f"{name}: in static/vendor but not in manifest")
    # The manifest must describe what packages.json asks for (catches a version bump
    # in packages.json that was never followed by a fetch).
    try:
        wanted = {(e["package"], e["version"], e["target"]) for e in load_packages(vendor_dir)}
    except VendorError as exc:
        problems.append(str(exc))
    else:
        have = {(e.get("package"), e.get("version"), e.get("file")) for e in manifest}
        for package, version, target in sorted(wanted - have):
            problems.append(
                f"{target}: packages.json wants {package}@{version}, manifest differs; "
                "run scripts/vendor.py"
            )
        for package, version, target in sorted(have - wanted, key=str):
            problems.append(f"{target}: {package}@{version} in manifest, not in packages.json")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/vendor.py",
        description=(
            "Vendor front-end files from npm into static/vendor/ and maintain "
            "static/vendor/manifest.json (package, version, licence, file, sha384 SRI hash).\n\n"
            "Without options: read static/vendor/packages.json (a list of {package, version, "
            "file, target}), download each PACKAGE@VERSION with `npm pack`, take FILE out of "
            "the tarball, write it to static/vendor/TARGET, copy the package's LICENSE to "
            "static/vendor/PACKAGE.LICENSE.txt, and rewrite manifest.json. Needs npm and the "
            "npm registry.\n\n"
            "With --check: recompute the sha384 of every vendored file, compare with "
            "manifest.json (and manifest.json with packages.json), and exit 1 naming each "
            "mismatching, missing or unlisted file. Needs no network."
        ),
        epilog="See docs/vendoring.md.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="verify vendored files against manifest.json; no network; exit 1 on mismatch",
    )
    parser.add_argument(
        "--vendor-dir",
        type=Path,
        default=DEFAULT_VENDOR_DIR,
        help="directory holding packages.json, manifest.json and the files (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    vendor_dir: Path = args.vendor_dir
    try:
        if args.check:
            problems = check(vendor_dir)
            for problem in problems:
                print(f"vendor check: {problem}", file=sys.stderr)
            if problems:
                return 1
            print(f"vendor check: {len(load_manifest(vendor_dir))} files OK")
            return 0
        return fetch(vendor_dir)
    except VendorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
