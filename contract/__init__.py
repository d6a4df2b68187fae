"""The model repository contract, shared by ``training/`` (which writes models) and ``service/``
(which reads them).

Five modules, no server dependencies (pydantic, numpy and Pillow only):

* :mod:`contract.layout`: directory and file names, version directories, staging names.
* :mod:`contract.manifest`: the ``manifest.json`` schema, reading, writing and verification.
* :mod:`contract.preprocess`: the image transform a manifest's image input describes.
* :mod:`contract.policy`: version policies (which version directories serve).
* :mod:`contract.cpu`: whether this CPU has int8 dot-product instructions (int8 variants).
"""
