"""Audio: the neural RVQ codec (`codec`) as a tokenizer (`tokenizer`, kind "audio_rvq"), its STFT/mel
signal processing (`dsp`), resampler (`resample`), losses and metrics (`losses`), training and held-out
evaluation (`train`; presets in configs/tokenizers_audio.py) and the classical Opus / mu-law baseline
(`baseline`)."""
from omni_tokenizers.audio.codec import AudioCodec, AudioCodecConfig
from omni_tokenizers.audio.tokenizer import AudioTokenizer

__all__ = ["AudioCodec", "AudioCodecConfig", "AudioTokenizer"]
