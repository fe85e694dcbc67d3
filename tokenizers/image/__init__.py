"""Images: conv autoencoder with FSQ/LFQ codes (`tokenizer`, kind "image_conv"), reconstruction losses
(`losses`) and metrics (`metrics`: PSNR, SSIM; per frame for video), training and held-out evaluation
(`train`; presets in configs/tokenizers_image.py) and the classical WebP/JPEG baseline (`baseline`)."""
from omni_tokenizers.image.tokenizer import ImageAutoencoder, ImageTokenizer, ImageTokenizerConfig

__all__ = ["ImageAutoencoder", "ImageTokenizer", "ImageTokenizerConfig"]
