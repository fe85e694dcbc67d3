"""base: ~300M active parameters per token (MoT: 4 modalities untied), for a TPU slice or a GPU node."""
from omni.config import Config, DataConfig, MeshConfig, ModelConfig, TrainConfig, VocabConfig


def get_config() -> Config:
    return Config(
        name="base",
        run_dir="runs/base",
        steps=100_000,
        checkpoint_every=1000,
        model=ModelConfig(d_model=1024, n_layers=20, n_heads=16, n_kv_heads=8, head_dim=64, d_ff=2816,
                          max_seq_len=4096, dtype="bfloat16", remat="dots", attention_impl="auto",
                          tile_size=512, logits_chunk=512),
        vocab=VocabConfig(text=32000, image=16384, audio=8192, video=16384),
        mesh=MeshConfig(data=-1, fsdp=1, tensor=1),
        train=TrainConfig(batch_size=64, seq_len=4096, learning_rate=3e-4, warmup_steps=2000,
                          log_every=20, eval_every=1000),
        data=DataConfig(source="tokens", token_dir="runs/base/tokens", num_workers=8),
    )
