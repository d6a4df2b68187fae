"""From a trained PyTorch model to a version directory of the model repository.

``exporter`` (export, check, compare, evaluate and report hooks, install), ``staging`` (the
hidden staging directory and the atomic rename), ``specs`` (manifest output entries shared by
the builds), ``provenance`` (code revision, package versions), ``report`` (the ``report/``
folder beside a model).
"""

from training.export.exporter import Evaluate, ExportError, Report, export_model

__all__ = ["Evaluate", "ExportError", "Report", "export_model"]
