"""The ``text`` model's sentiment heads: layer features, heads, their trainer, the VADER comparison.

The corpora they are trained on are in ``training.data.sentiment_corpora``.
"""
