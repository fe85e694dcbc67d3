"""tiny: unit tests and quick checks; trains on synthetic data made in seconds (no corpus build)."""
from omni.config import Config, DataConfig, ModelConfig, TrainConfig, VocabConfig


def get_config() -> Config:
    return Config(
        name="tiny",
        run_dir="runs/tiny",
        steps=20,
        checkpoint_every=10,
        model=ModelConfig(d_model=64, n_layers=2, n_heads=4, n_kv_heads=2, head_dim=16, d_ff=192,
                          max_seq_len=128, dtype="float32", tile_size=32),
        vocab=VocabConfig(text=256, image=64, audio=64, video=64),
        train=TrainConfig(batch_size=8, seq_len=128, learning_rate=3e-3, warmup_steps=5, log_every=5,
                          eval_every=10),
        data=DataConfig(source="synthetic"),
    )
