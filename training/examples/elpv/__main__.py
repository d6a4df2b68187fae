"""``python -m training.examples.elpv prepare|study``: the elpv data in fit's format, and the study.

    python -m training.examples.elpv prepare --out /tmp/elpv
    python -m training.examples.elpv study --data /tmp/elpv/elpv.jsonl --out /tmp/elpv/models

The data (CC BY-NC-SA 4.0) is read from the installed ``elpv-dataset`` package and written
where ``--out`` says, never into the repository.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from training.errors import INPUT_ERROR_EXIT, FitInputError
from training.examples.elpv import dataset, study


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.examples.elpv")
    sub = parser.add_subparsers(dest="command", required=True)
    prepare = sub.add_parser("prepare", help="write the images and elpv.jsonl under --out")
    prepare.add_argument("--out", type=Path, required=True)
    prepare.add_argument(
        "--source", type=Path, default=None, help="a data directory (default: the package's)"
    )
    run = sub.add_parser("study", help="train every row of the table and print it")
    run.add_argument("--data", type=Path, required=True, help="elpv.jsonl written by prepare")
    run.add_argument("--out", type=Path, required=True, help="model repository for the runs")
    run.add_argument("--epochs", type=int, default=3, help="budget of partly trained rows")
    run.add_argument("--frozen-epochs", type=int, default=30, help="budget of frozen rows")
    run.add_argument("--only", nargs="*", default=None, help="configs of the rows to run")
    show = sub.add_parser("table", help="print the table of results.json files written by study")
    show.add_argument("results", type=Path, nargs="+")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        if args.command == "prepare":
            jsonl = dataset.write_jsonl(args.source or dataset.package_data_dir(), args.out)
            print(jsonl)
        elif args.command == "table":
            print(study.table_from_results(args.results))
        else:
            budget = study.Budget(args.epochs, args.frozen_epochs)
            print(study.run(args.data, args.out, budget, args.only))
    except FitInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return INPUT_ERROR_EXIT
    return 0


if __name__ == "__main__":
    sys.exit(main())
