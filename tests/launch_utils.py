"""The scripts under launch/ as modules, for tests that call their functions (they are scripts, not package members)."""
import importlib.util
import pathlib
from types import ModuleType

LAUNCH = pathlib.Path(__file__).resolve().parent.parent / "launch"


def launch_script(stem: str) -> ModuleType:
    """launch/<stem>.py loaded as the module `launch_<stem>` (a fresh module each call)."""
    spec = importlib.util.spec_from_file_location(f"launch_{stem}", LAUNCH / f"{stem}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
