"""train.json and saliency.json have one owner (`sagr.job_records`): older files read with stated defaults,
and no other module spells the files' own keys."""

import re
from pathlib import Path

from sagr.job_records import DIVERGED, OK, SaliencyRecord, TrainRecord

SRC = Path(__file__).resolve().parents[1] / "src" / "sagr"
IDENTITY = {"dataset": "mnist", "run": "jr_seed0", "method": "jr", "seed": 0, "hparams": {"lam": 0.1}}


def test_a_file_from_before_status_n_test_and_validation_reads_with_the_stated_defaults():
    old = TrainRecord.from_json(
        {**IDENTITY, "history": [{"loss": 2.0, "ce": 1.9, "reg": 0.1}, {"loss": 1.0}]}
    )
    assert old.status == OK and not old.diverged and old.n_test is None and old.validations() == {}
    epochs = old.epochs_trained()
    assert [e.epoch for e in epochs] == [1, 2]  # in order from 1 where a row does not say
    assert epochs[1].loss == 1.0 and epochs[1].reg != epochs[1].reg  # a missing term is NaN, not 0


def test_validation_rows_take_the_split_size_where_a_row_does_not_state_its_own():
    rec = TrainRecord.from_json(
        {**IDENTITY, "n_val": 500, "val_history": [{"epoch": 2, "clean_accuracy": 0.9, "pgd_accuracy": 0.5},
                                                   {"epoch": 4, "clean_accuracy": 0.95, "pgd_accuracy": 0.6, "n": 250}]}
    )  # fmt: skip
    assert {e: v.n for e, v in rec.validations().items()} == {2: 500, 4: 250}


def test_a_diverged_saliency_record_says_why_before_its_empty_metrics():
    rec = SaliencyRecord.from_json({**IDENTITY, "status": DIVERGED, "diverged_reason": "nan loss", "note": "n",
                                    "n_images": 0, "metrics": {}})  # fmt: skip
    assert list(rec.to_json())[5:8] == ["status", "diverged_reason", "note"]
    assert "status" not in SaliencyRecord.from_json({**IDENTITY, "n_images": 3, "metrics": {}}).to_json()


def test_no_other_module_spells_the_keys_only_these_files_have():
    # Keys of train.json / saliency.json that are not also columns of the report's tables.
    own = ["training_hparams", "val_history", "best_epoch", "resumed_from", "n_train", "n_val", "clean_accuracy",
           "pgd_accuracy", "metrics"]  # fmt: skip
    offenders = []
    for path in SRC.rglob("*.py"):
        # train.py makes the epoch and validation rows, and keeps them in its checkpoint to resume them
        if path.name in ("job_records.py", "train.py"):
            continue
        for key in own:
            if re.search(rf"""["']{key}["']""", path.read_text()):
                offenders.append(f"{path.relative_to(SRC)}: {key!r}")
    assert offenders == []
