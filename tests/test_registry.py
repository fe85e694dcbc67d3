"""omni.registry: the one registry idiom (decorated definitions, lookup by name, lazy package imports)."""
import pytest

from omni.registry import Registry


def test_register_get_meta_and_order():
    reg = Registry("widget")

    @reg.register("b", size=2)
    def b():
        return "b"

    reg.register("a", len, size=1)
    assert reg.get("b") is b and reg.get("a") is len and reg.names() == ("b", "a")
    assert reg.meta("b") == {"size": 2} and reg.where(lambda m: m["size"] > 1) == ("b",)
    assert "a" in reg and "c" not in reg
    reg.register("a", len)  # the same object again: fine
    with pytest.raises(ValueError, match="widget 'a' is registered twice"):
        reg.register("a", abs)
    with pytest.raises(ValueError, match=r"unknown widget 'c'; expected one of \['b', 'a'\]"):
        reg.get("c")


def test_package_modules_register_on_demand(tmp_path, monkeypatch):
    import sys
    pkg = tmp_path / "regpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from omni.registry import Registry\nREG = Registry('thing', package='regpkg', "
                                     "modules={'renamed': 'other'})\n")
    for mod, name in (("one", "one"), ("two", "two"), ("other", "renamed")):
        (pkg / f"{mod}.py").write_text(f"from regpkg import REG\n@REG.register({name!r})\ndef f(): return {name!r}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import regpkg

    assert regpkg.REG.get("two")() == "two" and "regpkg.one" not in sys.modules  # only the module asked for
    assert regpkg.REG.get("renamed")() == "renamed"  # a name whose module is named otherwise
    assert set(regpkg.REG.names()) == {"one", "two", "renamed"}  # names() imports the whole package
    with pytest.raises(ValueError, match="unknown thing 'three'"):
        regpkg.REG.get("three")
    for m in [m for m in sys.modules if m.startswith("regpkg")]:
        del sys.modules[m]


def test_names_imports_modules_named_in_nested_packages(tmp_path, monkeypatch):
    import sys
    pkg = tmp_path / "nestpkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "reg.py").write_text("from omni.registry import Registry\nREG = Registry('thing', package='nestpkg', "
                                "modules={'deep': 'sub.deep'})\n")
    (pkg / "sub" / "__init__.py").write_text("")  # imports nothing: 'deep' registers only when sub.deep is imported
    (pkg / "sub" / "deep.py").write_text("from nestpkg.reg import REG\n@REG.register('deep')\ndef f(): return 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from nestpkg.reg import REG

    assert REG.names() == ("deep",)
    for m in [m for m in sys.modules if m.startswith("nestpkg")]:
        del sys.modules[m]
