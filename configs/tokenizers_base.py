"""Pod-scale tokenizers (`launch/train_tokenizer.py --config base`): `get_config(modality)`.

text: SentencePiece BPE 32000 pieces; image: 256x256 -> 16x16 = 256 tokens, FSQ 15360; video:
17x128x128 -> 5x16x16 = 1280 tokens, FSQ 15360; audio: 16 kHz, 8 RVQ levels x 1024 codes (400 tokens/s);
the code counts fit configs/base.py's vocabulary. Tokens per item and encode FLOPs per item:
docs/tokenizers.md (`python launch/model_info.py --tokenizers base`).
"""
from omni_tokenizers.trainers import preset


def get_config(modality: str):
    return preset(modality, "base")
