"""The elpv solar-cell example: two tasks on real electroluminescence images.

The ``elpv-dataset`` package (Deitsch et al., CC BY-NC-SA 4.0) ships 2,624 greyscale
300x300 images of solar cells, each labelled with a defect probability (0, 1/3, 2/3, 1, as
judged by experts) and the cell type (mono or poly). ``prepare`` writes them in the JSONL
format of ``python -m training fit``; ``study`` trains hard sharing, single-task and soft
sharing models on them and prints the comparison table. The data is non-commercial: it stays
out of git and out of ``make models``; install it with ``pip install elpv-dataset``.
"""
