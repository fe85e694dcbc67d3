"""Image tokenizer presets: `get_config(name)` -> ImageTrainConfig.

tiny: 4x downsampling, FSQ 1000, seconds on CPU (tests); demo (`make demo`, ~5 minutes on 2 CPU cores):
64x64 -> 8x8 tokens, FSQ 4096, sizes match configs/demo.py; base (pod scale): 256x256 -> 16x16 = 256 tokens,
FSQ 15360, fits configs/base.py's vocabulary (encode FLOPs per item: docs/tokenizers.md,
`python launch/model_info.py --tokenizers base`); fullres: the demo's network, 64x64 -> 8x8 positions of FSQ
(8,5,5,5,8,5,5,5) = 10^6 codes written as 2 tokens of 1000 (`code_groups`): 128 tokens, 1276 bits per image, at
full-resolution WebP's floor (~1250-1300 payload bits per 64x64 image); 2000 steps (the wall-clock of the
1600 the 16x16-grid preset before it took).
"""
from omni_tokenizers.image.tokenizer import ImageTokenizerConfig
from omni_tokenizers.image.train import ImageLossConfig, ImageTrainConfig

from omni.config import LoopConfig, MeshConfig

PRESETS = ("tiny", "demo", "fullres", "base")  # every name get_config accepts (tests fuzz each)


def get_config(name: str = "demo") -> ImageTrainConfig:
    if name == "tiny":
        return ImageTrainConfig(
            model=ImageTokenizerConfig(channels=(16, 32), res_blocks=1, levels=(8, 5, 5, 5)),
            train=LoopConfig(steps=150, batch_size=16, learning_rate=1e-2, warmup_steps=10,
                             log_every=25, eval_every=1000, checkpoint_every=1000),
            eval_items=32)
    if name == "demo":  # ~0.3 CPU-s per step on 2 cores: ~1600 steps in about 5 minutes
        return ImageTrainConfig(
            model=ImageTokenizerConfig(channels=(32, 64, 128), res_blocks=1, levels=(8, 8, 8, 8)),
            loss=ImageLossConfig(w_l1=1.0, w_l2=1.0, w_ssim=0.1, w_grad=0.1),
            train=LoopConfig(steps=1600, batch_size=16, learning_rate=1e-2, warmup_steps=50,
                             log_every=20, eval_every=400, checkpoint_every=200),
            eval_items=128)
    if name == "base":  # 256x256 -> 16x16 = 256 tokens, FSQ (8,8,8,6,5) = 15360 codes (fits base's vocab.image)
        return ImageTrainConfig(
            model=ImageTokenizerConfig(channels=(128, 128, 256, 512), res_blocks=2, levels=(8, 8, 8, 6, 5)),
            loss=ImageLossConfig(w_l1=1.0, w_l2=1.0, w_ssim=0.1, w_grad=0.1),
            train=LoopConfig(steps=200_000, batch_size=256, learning_rate=2e-4, warmup_steps=2000, log_every=100,
                             eval_every=5000, checkpoint_every=2000),
            mesh=MeshConfig(data=-1), eval_items=1024, item_shape=(256, 256, 3))
    if name == "fullres":  # 64x64 -> 8x8 x 2 tokens of 1000 codes: 128 x log2(1000) = 1276 bits per image
        return ImageTrainConfig(
            model=ImageTokenizerConfig(channels=(32, 64, 128), res_blocks=1, levels=(8, 5, 5, 5, 8, 5, 5, 5),
                                       code_groups=2),
            loss=ImageLossConfig(w_l1=1.0, w_l2=1.0, w_ssim=0.1, w_grad=0.1),
            train=LoopConfig(steps=2000, batch_size=16, learning_rate=1e-2, warmup_steps=50,
                             log_every=20, eval_every=400, checkpoint_every=200),
            eval_items=128)
    raise ValueError(f"unknown image preset {name!r}; expected one of {PRESETS}")
