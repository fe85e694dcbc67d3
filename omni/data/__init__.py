"""Data: raw corpus -> token shards -> task-formatted, packed [B, L] training batches (docs/data.md).

`corpus/` builds and reads the raw multimodal corpus; `tfds_source` reads any TFDS dataset through a
feature mapping; `tokenize` writes token shards (`token_shards`); `tasks` formats examples into
sequences; `packing` packs them into rows; `pipeline` is the grain pipeline the trainer iterates;
`synthetic` makes learnable examples in seconds for tests and configs/tiny.py.
"""
