"""The shapes world: a procedural, seeded generator of image/text pairs (synthetic data).

``world`` (vocabulary, scenes, held-out combinations), ``render`` (PIL drawing), ``text``
(captions and questions), ``datasets`` (task examples and the cache), ``runs`` (train and
evaluate a method on a task), ``experiments`` (the comparison tables).
"""
