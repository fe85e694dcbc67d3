"""Packaging: our tokenizers/ folder never shadows the `tokenizers` package; every package is listed."""
import pathlib
import subprocess
import sys
import tomllib


def test_import_tokenizers_from_repo_root_is_not_our_folder(repo_root):
    code = "import tokenizers, os; print(os.path.dirname(os.path.abspath(tokenizers.__file__ or '')))"
    out = subprocess.run([sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    where = pathlib.Path(out.stdout.strip())
    assert where != repo_root / "tokenizers" and "site-packages" in str(where), where
    assert not (repo_root / "tokenizers" / "__init__.py").exists()
    ours = subprocess.run([sys.executable, "-c", "import omni_tokenizers; print(list(omni_tokenizers.__path__))"],
                          cwd="/", capture_output=True, text=True)
    assert ours.returncode == 0 and str(repo_root / "tokenizers") in ours.stdout, ours.stderr


def test_every_package_folder_is_listed_in_pyproject(repo_root):
    meta = tomllib.loads((repo_root / "pyproject.toml").read_text())
    listed = set(meta["tool"]["setuptools"]["packages"])
    package_dir = meta["tool"]["setuptools"]["package-dir"]  # {"omni_tokenizers": "tokenizers"}
    found = {".".join(p.parent.relative_to(repo_root).parts) for p in (repo_root / "omni").rglob("__init__.py")}
    found |= {".".join(("omni_tokenizers",) + p.parent.relative_to(repo_root / "tokenizers").parts)
              for p in (repo_root / "tokenizers").rglob("__init__.py")}
    found.add("configs")
    assert found <= listed, f"not listed in pyproject packages: {sorted(found - listed)}"
    for pkg in listed - {"omni_tokenizers"}:
        top, *rest = pkg.split(".")
        assert (repo_root / package_dir.get(top, top) / "/".join(rest)).is_dir(), f"listed but missing: {pkg}"
    deps = " ".join(meta["project"]["dependencies"]).lower()
    assert "tensorflow>" not in deps and "tensorflow " not in deps and "torch" not in deps
