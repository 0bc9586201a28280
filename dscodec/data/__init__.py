"""Corpora for DS-Codec: LibriSpeech and LJSpeech readers, the built-in synthetic sample corpus,
manifests (one TSV per split) and the torch datasets that training and evaluation read.

Everything downstream reads manifests only (see `dscodec.data.manifest`), so a real corpus and
the synthetic one go through exactly the same code path.
"""
