"""The model repository contract, shared by ``training/`` (which writes models) and ``service/``
(which reads them).

Three modules, no server dependencies (pydantic, numpy and Pillow only):

* :mod:`contract.layout`: directory and file names, version directories, staging names.
* :mod:`contract.manifest`: the ``manifest.json`` schema, reading, writing and verification.
* :mod:`contract.preprocess`: the image transform a manifest's image input describes.
"""
