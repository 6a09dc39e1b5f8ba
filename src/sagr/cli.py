"""The `sagr` command: evaluate any checkpoint with the pipeline's attack suite; export results.

sagr evaluate CHECKPOINT --dataset mnist [--config FILE] [--out DIR]
sagr export [--results DIR] [--out DIR] [--configfile FILE ...]
sagr check-config FILE [FILE ...]
sagr verify [--results DIR]
sagr verdicts [--results DIR] [--configfile FILE ...] [--csv FILE]
"""

from __future__ import annotations

import argparse
import logging
import pickle
import sys
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sagr", description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ev = sub.add_parser(
        "evaluate",
        help="run the configured attack suite and masking checks on a checkpoint",
        description="Run the config's attack suite and gradient-masking checks on CHECKPOINT (anything "
        "sagr.load_model reads: weights + architecture spec) on the dataset's evaluation subset, "
        "and write robustness.json and correct.npz exactly as the pipeline's evaluate job does. "
        "From Python, sagr.evaluate(module, dataset) does the same for any torch.nn.Module "
        "taking inputs in [0, 1].",
    )
    ev.add_argument(
        "checkpoint",
        type=Path,
        help="model file written by sagr (results/{dataset}/{run}/model.pt) or your own in its format: "
        "checked against its hash record if it has one, else read as a file you brought (said in the log)",
    )
    ev.add_argument(
        "--dataset", required=True, help="dataset of the config whose evaluation subset and budgets to use"
    )
    ev.add_argument(
        "--config",
        type=Path,
        default=None,
        help="workflow config (YAML); default config/config.yaml in the current directory",
    )
    ev.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder for robustness.json and correct.npz (default evaluation/<checkpoint name>)",
    )
    ev.add_argument(
        "--attacks",
        nargs="+",
        default=None,
        metavar="NAME",
        help="attack names of the config to run (default: the whole suite)",
    )
    ev.add_argument(
        "--name", default=None, help="name recorded as the run (default: the checkpoint's folder name)"
    )
    ev.add_argument(
        "--seed",
        type=int,
        default=0,
        help="torch seed, as the pipeline's run with that seed (random starts); default 0",
    )

    ex = sub.add_parser(
        "export",
        help="write RobustBench-style model-info JSON for every evaluated model",
        description="For every results/{dataset}/{run}/robustness.json write {out}/{dataset}/{run}.json with "
        "RobustBench's model-info fields (clean and AutoAttack accuracy in %%, eps, threat model, "
        "architecture) plus the number of points each accuracy rests on and the checkpoint path. "
        "All or nothing: a damaged or missing result file stops it before it writes anything, naming "
        "the file and the command that rebuilds it.",
    )
    ex.add_argument("--results", type=Path, default=Path("results"), help="results folder of a pipeline run")
    ex.add_argument(
        "--out",
        type=Path,
        default=Path("results") / "robustbench",
        help="output folder (default results/robustbench)",
    )
    ex.add_argument(
        "--configfile",
        nargs="+",
        type=Path,
        default=None,
        metavar="FILE",
        help="the --configfile list of the run that wrote the results, for the rebuild command an error "
        "names (default: the list each file's hash record holds)",
    )
    cc = sub.add_parser(
        "check-config",
        help="check config files as `snakemake --configfile FILE ...` would merge them",
        description="Merge FILE ... in order (later files update earlier ones, as `snakemake --configfile` "
        "does) and run every check the workflow runs before building its DAG: YAML syntax (file, line, "
        "column; Snakemake's own message for a --configfile names neither), schema, value ranges, "
        "cross-key checks. Prints what the run would train; exit status 2 names the first problem.",
    )
    cc.add_argument("files", nargs="+", type=Path, metavar="FILE")
    ve = sub.add_parser(
        "verify",
        help="re-hash every result file against its hash record",
        description="Re-hash every file under DIR that has a hash record (<file>.sha256), and the last "
        "good copies kept under .sagr/previous/DIR, against the record its writer made. A file damaged "
        "on disk with its date unchanged passes a plain snakemake run until a job reads it; this finds "
        "it now. Prints one line per damaged or missing file with the command that rebuilds it; exit "
        "status 1 if there is any.",
    )
    ve.add_argument("--results", type=Path, default=Path("results"), help="results folder (default results)")
    vd = sub.add_parser(
        "verdicts",
        help="the claims' verdicts from the runs finished so far",
        description="Evaluate the paper's claims, as the report does, on the runs of the config (FILE ..., "
        "merged as `snakemake --configfile` merges them) that have every result file under DIR; every "
        "file is verified as the report verifies it. A claim whose runs are missing is 'not tested'; a "
        "comparison uses the seeds both sides have. For a long study that is still running.",
    )
    vd.add_argument("--results", type=Path, default=Path("results"), help="results folder (default results)")
    vd.add_argument(
        "--configfile",
        nargs="+",
        type=Path,
        default=[Path("config/config.yaml")],
        metavar="FILE",
        help="the run's config files (default config/config.yaml)",
    )
    vd.add_argument(
        "--csv", type=Path, help="also write every comparison (with its interval, n and MDE) here"
    )
    return parser


def check_config_files(files: list[Path]) -> dict:
    """The merged, checked config of ``files`` (as Snakemake merges several --configfile)."""
    from .checks import read_config_file
    from .config import load

    merged: dict = {}
    for path in files:
        _update(merged, read_config_file(path))
    return load(merged)


def _say_where_cuda_runs(config: dict) -> None:
    """``device: cuda`` needs a GPU where the jobs run: say whether this machine has one. A warning,
    not an error: the jobs may run on a cluster's GPU nodes (the run itself stops before any job
    when it would run them here without a GPU: sagr.checks.check_device)."""
    from .checks import ConfigError, check_device

    if not str(config["device"]).startswith("cuda"):
        return
    try:
        check_device(config)
    except ConfigError as err:
        print(f"sagr check-config: warning (the jobs need a GPU where they run): {err}", file=sys.stderr)
    else:
        print(f"device {config['device']}: this machine has the GPU it names")


def _print_verdicts(config: dict, results_dir: Path, csv: Path | None) -> None:
    import pandas as pd

    from .interim import verdicts
    from .report.claims import verdicts_table

    found = verdicts(config, results_dir)
    total = found.finished + len(found.missing)
    print(f"{found.finished} of {total} runs finished under {results_dir}")
    if found.missing:
        shown = ", ".join(found.missing[:5]) + (
            f" and {len(found.missing) - 5} more" if len(found.missing) > 5 else ""
        )
        print(f"not finished: {shown}")
    with pd.option_context("display.width", 250, "display.max_colwidth", 90, "display.max_rows", 500):
        print(
            verdicts_table(found.claims, sorted(found.claims["dataset"].dropna().unique())).to_string(
                index=False
            )
        )
    if csv is not None:
        pd.concat([found.claims, found.readings], ignore_index=True).to_csv(csv, index=False)
        print(f"wrote every comparison to {csv}")


def _update(base: dict, new: dict) -> None:
    """Recursive dict update: snakemake.utils.update_config's semantics, without importing Snakemake."""
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _update(base[key], value)
        else:
            base[key] = value


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        if args.command == "evaluate":
            from .evaluation import evaluate

            name = args.name or args.checkpoint.resolve().parent.name
            out = args.out or Path("evaluation") / name
            result = evaluate(
                args.checkpoint,
                args.dataset,
                args.config,
                out,
                attacks=args.attacks,
                name=name,
                seed=args.seed,
            )
            from .robustness import ModelResult

            for w in ModelResult.from_json(result).worst_case:
                print(f"worst case {w.norm} eps={w.eps:g}: accuracy {w.accuracy:.4f} (n={w.n})")
            print(f"wrote {out / 'robustness.json'} and {out / 'correct.npz'}")
        elif args.command == "export":
            from .export import export_run
            from .files import use_configfiles

            if args.configfile:
                use_configfiles(args.configfile)
            written = export_run(args.results, args.out)
            print(f"wrote {len(written)} model-info file(s) under {args.out}")
        elif args.command == "verify":
            from .files import verify_tree

            checked, problems = verify_tree(args.results)
            for problem in problems:
                print(f"sagr verify: {problem}", file=sys.stderr)
            print(f"{len(checked)} file(s) checked under {args.results}: {len(problems)} damaged or missing")
            return 1 if problems else 0
        elif args.command == "verdicts":
            _print_verdicts(check_config_files(args.configfile), args.results, args.csv)
        elif args.command == "check-config":
            config = check_config_files(args.files)
            print(
                f"config OK: datasets {', '.join(config['datasets'])}; methods {', '.join(config['methods'])}; "
                f"seeds {config['seeds']}; attacks {', '.join(config['attacks'])}"
            )
            _say_where_cuda_runs(config)
    except (OSError, ValueError, pickle.UnpicklingError) as err:
        # One line the user can act on (a refused checkpoint, a full disk naming the file), not a traceback.
        left = f" ({args.out} left as it was)" if args.command == "export" else ""
        print(f"sagr {args.command}: {err}{left}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
