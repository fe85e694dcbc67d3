"""7b: Chameleon-7B shapes (4096 hidden, 32 layers, 32 heads, 4096 context, 65536 vocabulary)."""
from omni.config import Config, DataConfig, MeshConfig, ModelConfig, TrainConfig, VocabConfig


def get_config() -> Config:
    return Config(
        name="7b",
        run_dir="runs/7b",
        steps=500_000,
        checkpoint_every=1000,
        model=ModelConfig(d_model=4096, n_layers=32, n_heads=32, n_kv_heads=32, head_dim=128, d_ff=11008,
                          max_seq_len=4096, dtype="bfloat16", remat="full", attention_impl="auto",
                          tile_size=512),
        # 65536 ids in all: 32768 text + 16384 image + 8192 audio + 8192 video codes (+ specials/ends).
        vocab=VocabConfig(text=32768 - 14, image=16384 - 1, audio=8192 - 1, video=8192 - 1),
        mesh=MeshConfig(data=1, fsdp=-1, tensor=8),
        train=TrainConfig(batch_size=512, seq_len=4096, learning_rate=1e-4, warmup_steps=4000,
                          log_every=20, eval_every=1000),
        data=DataConfig(source="tokens", token_dir="runs/7b/tokens", num_workers=16),
    )
