"""1b: ~1.1B active parameters per token (TinyLlama-like shapes), FSDP over a pod slice or GPU nodes."""
from omni.config import Config, DataConfig, MeshConfig, ModelConfig, TrainConfig, VocabConfig


def get_config() -> Config:
    return Config(
        name="1b",
        run_dir="runs/1b",
        steps=200_000,
        checkpoint_every=1000,
        model=ModelConfig(d_model=2048, n_layers=22, n_heads=32, n_kv_heads=4, head_dim=64, d_ff=5632,
                          max_seq_len=4096, dtype="bfloat16", remat="dots", attention_impl="auto",
                          tile_size=512),
        vocab=VocabConfig(text=32000, image=16384, audio=8192, video=16384),
        mesh=MeshConfig(data=1, fsdp=-1, tensor=1),
        train=TrainConfig(batch_size=256, seq_len=4096, learning_rate=3e-4, warmup_steps=2000,
                          log_every=20, eval_every=1000),
        data=DataConfig(source="tokens", token_dir="runs/1b/tokens", num_workers=8),
    )
