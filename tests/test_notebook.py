"""notebooks/any_to_any.ipynb runs top to bottom against a tiny bundle made here, generating each direction."""
import os

import nbformat
import pytest
from flax import nnx
from nbclient import NotebookClient

from omni.model import build_model
from omni.sampling.bundle import export
from tests.sample_utils import tiny_config, tokenizer_dir


@pytest.mark.integration
@pytest.mark.xdist_group("notebook")
def test_notebook_generates_every_direction(repo_root, tmp_path):
    cfg = tiny_config()
    bundle = export(tmp_path / "bundle", config=cfg, params=nnx.state(build_model(cfg), nnx.Param), step=0,
                    tokenizer_dir=tokenizer_dir())
    nb = nbformat.read(repo_root / "notebooks" / "any_to_any.ipynb", as_version=4)
    old = os.environ.get("OMNI_BUNDLE")
    os.environ["OMNI_BUNDLE"] = str(bundle)  # the kernel inherits the environment
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(repo_root)}}).execute()
    finally:
        if old is None:
            os.environ.pop("OMNI_BUNDLE")
        else:
            os.environ["OMNI_BUNDLE"] = old
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    kinds = [k for o in outputs for k in o.get("data", {})]
    assert kinds.count("image/png") >= 3, kinds  # text->image, text->video strip, chained image
    assert "text/html" in kinds  # the audio player
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "can generate" in text
