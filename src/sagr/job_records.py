"""train.json and saliency.json as typed records: the keys of both files are spelled here, and only here.

The training and saliency jobs write through `to_json`; everything that reads them (the report's
loader, `sagr export`, the evaluation and saliency jobs' divergence check) goes through `from_json`,
which also reads files written before a field existed: each default below says what such a file
meant. The robustness files have their own records (`sagr.robustness.records`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sagr.files import read_json

OK = "ok"
DIVERGED = "diverged"
DIVERGED_NOTE = "no robustness or saliency numbers: the model diverged in training (see train.json)"


@dataclass(frozen=True)
class Identity:
    """Which run a file belongs to (the first keys of every result file)."""

    dataset: str
    run: str
    method: str
    seed: int
    hparams: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "run": self.run, "method": self.method, "seed": self.seed,
                "hparams": dict(self.hparams)}  # fmt: skip

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Identity:
        return cls(d["dataset"], d["run"], d["method"], int(d["seed"]), d.get("hparams") or {})


@dataclass(frozen=True)
class Epoch:
    """One trained epoch: the mean loss terms per example and its wall time."""

    epoch: int
    loss: float
    ce: float
    reg: float
    time_s: float | None = None

    @classmethod
    def from_json(cls, d: Mapping[str, Any], position: int) -> Epoch:
        nan = float("nan")
        # Files from before the epoch was recorded list epochs in order from 1.
        return cls(int(d.get("epoch", position)), d.get("loss", nan), d.get("ce", nan), d.get("reg", nan),
                   d.get("time_s"))  # fmt: skip


@dataclass(frozen=True)
class Validation:
    """One epoch's validation: clean and PGD accuracy on the held-out split of n images."""

    epoch: int
    clean_accuracy: float
    pgd_accuracy: float
    n: int | None = None


@dataclass(frozen=True)
class TrainRecord:
    """train.json: what the training job made, how well it trained, and whether it diverged."""

    identity: Identity
    training_hparams: Mapping[str, Any] = field(default_factory=dict)
    epochs: int | None = None
    n_train: int | None = None
    history: Sequence[Mapping[str, Any]] = ()  # rows as train.py wrote them; `epochs_trained` types them
    train_wall_time_s: float | None = None
    test_accuracy: float | None = None
    n_test: int | None = None  # absent in files written before it was: the registry's test split
    status: str = OK
    diverged_reason: str | None = ""
    train_accuracy: float | None = None
    provenance: Mapping[str, Any] | None = None
    n_val: int | None = None  # the validation split, where the run had one
    val_history: Sequence[Mapping[str, Any]] = ()
    best_epoch: int | None = None
    resumed_from: Any = None  # the checkpoint a resumed run started from

    @property
    def diverged(self) -> bool:
        return self.status == DIVERGED

    def epochs_trained(self) -> list[Epoch]:
        return [Epoch.from_json(h, i) for i, h in enumerate(self.history, start=1)]

    def validations(self) -> dict[int, Validation]:
        """Validated epoch → its validation (the split's size where a row does not state its own)."""
        return {
            int(v["epoch"]): Validation(
                int(v["epoch"]), v["clean_accuracy"], v["pgd_accuracy"], v.get("n", self.n_val)
            )
            for v in self.val_history
        }

    def to_json(self) -> dict[str, Any]:
        out = {
            **self.identity.to_json(),
            "training_hparams": self.training_hparams,
            "epochs": self.epochs,
            "n_train": self.n_train,
            "history": list(self.history),
            "train_wall_time_s": self.train_wall_time_s,
            "test_accuracy": self.test_accuracy,
            "n_test": self.n_test,
            "status": self.status,
            "diverged_reason": self.diverged_reason,
            "train_accuracy": self.train_accuracy,
            "provenance": self.provenance,
        }
        if self.n_val is not None:  # written only by runs with a validation split
            out.update(n_val=self.n_val, val_history=list(self.val_history), best_epoch=self.best_epoch)
        if self.resumed_from:
            out["resumed_from"] = self.resumed_from
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> TrainRecord:
        return cls(
            identity=Identity.from_json(d),
            training_hparams=d.get("training_hparams") or {},
            epochs=d.get("epochs"),
            n_train=d.get("n_train"),
            history=tuple(d.get("history") or ()),
            train_wall_time_s=d.get("train_wall_time_s"),
            test_accuracy=d.get("test_accuracy"),
            n_test=d.get("n_test"),
            status=d.get("status", OK),  # files from before divergence was judged: trained
            diverged_reason=d.get("diverged_reason", ""),
            train_accuracy=d.get("train_accuracy"),
            provenance=d.get("provenance"),
            n_val=d.get("n_val"),
            val_history=tuple(d.get("val_history") or ()),
            best_epoch=d.get("best_epoch"),
            resumed_from=d.get("resumed_from"),
        )

    @classmethod
    def read(cls, path: Any) -> TrainRecord:
        return cls.from_json(read_json(path))


@dataclass(frozen=True)
class SaliencyRecord:
    """saliency.json: the saliency metrics of one model (mean and sd over n_images), or why there are none."""

    identity: Identity
    n_images: int | None = None
    metrics: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # metric → {mean, std}
    provenance: Mapping[str, Any] | None = None
    status: str | None = None  # set (with the two below) only where the model diverged in training
    diverged_reason: str | None = None
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = self.identity.to_json()
        if self.status is not None:
            out.update(status=self.status, diverged_reason=self.diverged_reason, note=self.note)
        out.update(n_images=self.n_images, metrics=dict(self.metrics), provenance=self.provenance)
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> SaliencyRecord:
        return cls(
            identity=Identity.from_json(d),
            n_images=d.get("n_images"),
            metrics=d.get("metrics") or {},
            provenance=d.get("provenance"),
            status=d.get("status"),
            diverged_reason=d.get("diverged_reason"),
            note=d.get("note"),
        )
