"""``python -m bench``: the serving benchmark (``bench/serving.py``)."""

from bench.serving import main

if __name__ == "__main__":
    raise SystemExit(main())
