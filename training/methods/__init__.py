"""The four methods of the founding article as reusable modules, plus what they share.

* ``hard_sharing``, ``soft_sharing``: multi-task models; ``weighting``: how task losses combine.
* ``fusion``: concatenation and cross-modal attention; ``alignment`` + ``losses``: a shared
  embedding space trained with a contrastive or InfoNCE ``AlignmentLoss``.
* ``encoders``: the trainable encoders: the small CNN, the adapters around the pretrained
  EfficientNet-Lite0 and MiniLM towers (``training.towers``) and the LSTM text encoder;
  ``tokenizer``: the word-level tokenizer saved beside LSTM text models; ``optim``: the
  optimizer's parameter groups (pretrained towers at ``tower_lr``).
* ``config`` (typed configs), ``build`` (config -> model, objective), ``objectives`` (named
  losses and their total), ``trainer`` (the loop), ``evaluation``/``retrieval`` (metrics),
  ``pipeline`` (prepare -> fit -> evaluate -> export), ``exporting``/``plots`` (the input
  specs and the report hook given to ``training.export``), ``data``/``jsonl`` (examples and
  batches; bring your own data).
"""
