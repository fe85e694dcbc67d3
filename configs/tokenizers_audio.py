"""Audio tokenizer presets: `get_config(name)` -> AudioTrainConfig ("tiny" for tests, "demo" for make demo,
"base" for pod scale: 8 RVQ levels x 1024 codes, 400 tokens/s).

demo: 16 kHz, hop 320 (50 frames/s), 4 RVQ levels x 256 codes (vocab 1024; 2 levels = 800 bit/s in
demo sequences), quantizer dropout so any first-k levels decode; 3000 steps, ~11 minutes alone on 2 idle CPU
cores. 500 steps until the tenth session, 1500 until the thirteenth, whose depthwise convs as shifted sums made the
step 1.36x faster (0.21 -> 0.155 s): held-out speech at 800 bit/s STOI 0.756 (500) -> 0.817 (1500) -> 0.844 (3000),
PESQ-WB 1.18 -> 1.32 -> 1.51 (docs/audio_tokenizer.md "Training length"). The built-in corpus's spoken numbers
(10,400 of its 12,389 training clips since the eighteenth session) are drawn 0.15 times per epoch, so that they are
44% of the codec's clips as in the seventeenth (45%): at 85% the codec lost speech quality elsewhere
(docs/audio_tokenizer.md "The corpus's speech mix moved the codec").
"""
from omni_tokenizers.audio.codec import AudioCodecConfig
from omni_tokenizers.audio.train import AudioTrainConfig

from omni.config import LoopConfig


def get_config(name: str = "demo") -> AudioTrainConfig:
    if name == "tiny":
        return AudioTrainConfig(
            model=AudioCodecConfig(channels=32, enc_blocks=1, dec_blocks=1, latent_dim=16, codebook_size=64),
            train=LoopConfig(steps=120, batch_size=8, learning_rate=3e-3, warmup_steps=10, log_every=20,
                                  eval_every=1000, checkpoint_every=60),
            segment_seconds=0.5, eval_items=4, eval_seconds=1.0, eval_quantizers=(1, 4))
    if name == "demo":
        return AudioTrainConfig(
            model=AudioCodecConfig(),
            train=LoopConfig(steps=3000, batch_size=16, learning_rate=2e-3, warmup_steps=20, log_every=10,
                                  eval_every=500, checkpoint_every=250),
            segment_seconds=1.0, eval_items=24, eval_seconds=4.0, eval_quantizers=(2, 4),
            source_weights=(("numbers", 0.15),))
    if name == "base":  # 16 kHz, 50 frames/s x 8 levels x 1024 codes: 400 tokens/s, 4 kbit/s at 8 levels
        return AudioTrainConfig(
            model=AudioCodecConfig(channels=512, enc_blocks=8, dec_blocks=8, latent_dim=128, num_quantizers=8,
                                   codebook_size=1024),
            train=LoopConfig(steps=200_000, batch_size=128, learning_rate=3e-4, warmup_steps=2000, log_every=100,
                             eval_every=5000, checkpoint_every=2000),
            segment_seconds=2.0, eval_items=256, eval_seconds=10.0, eval_quantizers=(2, 4, 8))
    raise ValueError(f"unknown audio preset {name!r}; expected 'tiny', 'demo' or 'base'")
