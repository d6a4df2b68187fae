"""The four methods of the founding article as reusable modules, plus what they share.

* ``hard_sharing``, ``soft_sharing``: multi-task models; ``weighting``: how task losses combine.
* ``fusion``: concatenation and cross-modal attention; ``alignment`` + ``losses``: a shared
  embedding space trained with a contrastive or InfoNCE ``AlignmentLoss``.
* ``encoders``: the small CNN, the EfficientNet-Lite0 adapter and the LSTM text encoder;
  ``tokenizer``: the word-level tokenizer saved beside text models.
* ``config`` (typed configs), ``build`` (config -> model, objective), ``objectives`` (named
  losses and their total), ``trainer`` (the loop), ``evaluation``/``retrieval`` (metrics),
  ``pipeline`` (prepare -> fit -> evaluate -> export), ``exporting``/``plots`` (the model
  repository and its report), ``data``/``jsonl`` (examples and batches; bring your own data).
"""
