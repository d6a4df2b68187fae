"""The ``mapping-serve`` command line (``main.py``), one module per command family."""
