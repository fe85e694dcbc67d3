"""Debian packages as data: `apt-get download` a .deb into a cache and unpack it with `dpkg -x` (no root install)."""
from __future__ import annotations

import gzip
import os
import pathlib
import re
import shutil
import subprocess
import tempfile

_LISTS = pathlib.Path("/var/lib/apt/lists")


class DebianError(RuntimeError):
    """A package could not be fetched or unpacked; the message says what to do."""


class DebianCache:
    """`root(pkg)` is the unpacked file tree of `pkg` under `<dir>/<pkg>/root`, fetched on first use."""

    def __init__(self, dir: str | pathlib.Path):
        self.dir = pathlib.Path(dir)

    def _pkg_dir(self, package: str) -> pathlib.Path:
        if not re.fullmatch(r"[a-z0-9][a-z0-9.+-]+", package):
            raise ValueError(f"not a Debian package name: {package!r}")
        return self.dir / package

    def root(self, package: str) -> pathlib.Path:
        d = self._pkg_dir(package)
        if (d / ".unpacked").exists():
            return d / "root"
        deb = self.download(package)
        tmp = pathlib.Path(tempfile.mkdtemp(dir=d, prefix="unpack-"))
        try:
            subprocess.run(["dpkg", "-x", str(deb), str(tmp)], check=True, capture_output=True, text=True)
        except (OSError, subprocess.CalledProcessError) as e:
            shutil.rmtree(tmp, ignore_errors=True)
            raise DebianError(f"dpkg -x {deb} failed: {getattr(e, 'stderr', '') or e}") from e
        shutil.rmtree(d / "root", ignore_errors=True)
        os.replace(tmp, d / "root")
        (d / ".unpacked").write_text(deb.name + "\n")
        return d / "root"

    def download(self, package: str) -> pathlib.Path:
        d = self._pkg_dir(package)
        d.mkdir(parents=True, exist_ok=True)
        debs = sorted(d.glob(f"{package}_*.deb"))
        if debs:
            return debs[-1]
        if not shutil.which("apt-get"):
            raise DebianError(f"need {package}: apt-get is not available; put {package}_*.deb into {d}")
        if not any(_LISTS.glob("*_Packages*")):
            self._apt_update(package)
        r = subprocess.run(["apt-get", "download", package], cwd=d, capture_output=True, text=True)
        if r.returncode != 0 and "Unable to locate" in r.stderr and os.geteuid() == 0:
            self._apt_update(package)
            r = subprocess.run(["apt-get", "download", package], cwd=d, capture_output=True, text=True)
        debs = sorted(d.glob(f"{package}_*.deb"))
        if r.returncode != 0 or not debs:
            raise DebianError(f"apt-get download {package} failed (rc={r.returncode}): {r.stderr.strip()[-500:]}")
        return debs[-1]

    @staticmethod
    def _apt_update(package: str):
        if os.geteuid() != 0:
            raise DebianError(f"apt package lists are missing and we are not root: run `apt-get update` as root, "
                              f"then rebuild (needed for {package})")
        r = subprocess.run(["apt-get", "update"], capture_output=True, text=True)
        if r.returncode != 0:
            raise DebianError(f"apt-get update failed: {r.stderr.strip()[-500:]}")

    def version(self, package: str) -> str:
        name = (self._pkg_dir(package) / ".unpacked").read_text().strip()
        return name[len(package) + 1:].rsplit("_", 1)[0]

    def copyright(self, package: str) -> str:
        """The package's machine-readable copyright file (licenses of what it ships)."""
        p = self.root(package) / "usr/share/doc" / package / "copyright"
        if p.exists():
            return p.read_text(errors="replace")
        gz = p.with_suffix(".gz")
        return gzip.decompress(gz.read_bytes()).decode(errors="replace") if gz.exists() else ""


def licenses_in(copyright_text: str) -> list[str]:
    """Distinct `License:` short names of a DEP-5 copyright file, in order of appearance."""
    seen: list[str] = []
    for m in re.finditer(r"^License:\s*(\S.*)$", copyright_text, re.M):
        name = m.group(1).strip()
        if name not in seen:
            seen.append(name)
    return seen
