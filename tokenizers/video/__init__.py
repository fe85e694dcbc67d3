"""Video: causal 3-D autoencoder with FSQ/LFQ codes (`tokenizer`, kind "video_causal"; its conv stacks in
`causal`), training and held-out evaluation (`train`; presets in configs/tokenizers_video.py). Losses and
metrics are the image ones, per frame."""
from omni_tokenizers.video.tokenizer import VideoAutoencoder, VideoTokenizer, VideoTokenizerConfig

__all__ = ["VideoAutoencoder", "VideoTokenizer", "VideoTokenizerConfig"]
