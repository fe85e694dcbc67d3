"""The built-in offline corpus: sources -> stage files -> TFDS `omni_corpus` (array_record), read TF-free.

Read: `open_corpus(data_dir, split)`, `corpus_metadata(data_dir)`. Build: `build_corpus(CorpusConfig(...))`
or `python launch/build_corpus.py --out DIR`.
"""
from omni.data.corpus.build import build_corpus
from omni.data.corpus.reader import corpus_metadata, open_corpus
from omni.data.corpus.schema import FIELDS, make_example, split_of
from omni.data.corpus.spec import CorpusConfig, MediaSpec

__all__ = ["open_corpus", "corpus_metadata", "build_corpus", "CorpusConfig", "MediaSpec", "FIELDS",
           "make_example", "split_of"]
