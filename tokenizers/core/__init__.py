"""What every modality shares: the tokenizer contract and its files (`base`), quantizers (`quantizers`: FSQ/LFQ,
`rvq`: residual VQ), the quantized autoencoder of image and video (`autoencoder`, `autoencoder_train`, `conv`),
training data streamed through grain (`data`) and a fit as a task of omni's one training loop (`training`).
Nothing here depends on a modality; omni_tokenizers.registry / trainers / programs dispatch by modality."""
