"""Training checkpoints: atomic, checksummed, two generations kept, refused when they belong to another run.

A checkpoint file is one header line ``SAGRCKPT1 <sha256 of the payload>`` followed by a
``torch.save`` payload, so a truncated or bit-flipped file is detected before it is trusted.
Writing renames the current file to ``<name>.prev.pt`` before the new one takes its place:
if the newest file turns out to be corrupt, training resumes from the previous one.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
from pathlib import Path
from typing import Any

import torch

from .files import atomic_path

log = logging.getLogger("sagr")

MAGIC = b"SAGRCKPT1"


class CheckpointError(RuntimeError):
    """A checkpoint cannot be used: it belongs to another run, or every copy of it is corrupt."""


class CorruptCheckpoint(CheckpointError):
    """One checkpoint file fails its checksum or cannot be unpickled."""


def write_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` atomically, keeping the previous checkpoint as ``previous_path(path)``."""
    path = Path(path)
    buf = io.BytesIO()
    torch.save(state, buf)
    payload = buf.getvalue()
    digest = hashlib.sha256(payload).hexdigest().encode()
    # The checkpoint carries its own checksum header: no .sha256 sidecar (it would not follow the renames).
    with atomic_path(path.with_name(path.name + ".next"), record_hash=False) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(MAGIC + b" " + digest + b"\n")
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
    # Two renames, each atomic: a kill between them leaves .prev (last good) and .next (newest), both found by load.
    if path.exists():
        os.replace(path, previous_path(path))
    os.replace(path.with_name(path.name + ".next"), path)


def previous_path(path: Path) -> Path:
    """Where the generation before ``path`` is kept."""
    return Path(path).with_name(Path(path).stem + ".prev" + Path(path).suffix)


def read_checkpoint(path: Path) -> dict[str, Any]:
    """Load one checkpoint file, verifying its checksum (raises CorruptCheckpoint)."""
    raw = Path(path).read_bytes()
    header, sep, payload = raw.partition(b"\n")
    parts = header.split(b" ")
    if not sep or len(parts) != 2 or parts[0] != MAGIC:
        raise CorruptCheckpoint(f"{path}: not a sagr training checkpoint (bad header)")
    if hashlib.sha256(payload).hexdigest().encode() != parts[1]:
        raise CorruptCheckpoint(f"{path}: checksum mismatch (truncated or corrupted file)")
    try:
        state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means the file is unusable
        raise CorruptCheckpoint(f"{path}: cannot be loaded ({type(exc).__name__}: {exc})") from exc
    if not isinstance(state, dict) or "identity" not in state:
        raise CorruptCheckpoint(f"{path}: payload lacks the run identity")
    return state


def load_latest(path: Path, identity: dict[str, Any]) -> dict[str, Any] | None:
    """The newest usable checkpoint of this run, or None when none was ever written.

    A corrupt file is reported and the previous generation used instead; if checkpoints exist
    but none is usable, CheckpointError (never a silent restart from scratch). A checkpoint of
    another run (config, architecture, method) is refused with both identities in the message.
    """
    path = Path(path)
    candidates = [path.with_name(path.name + ".next"), path, previous_path(path)]
    found = [p for p in candidates if p.exists()]
    if not found:
        return None
    best, problems = None, []
    for p in found:
        try:
            state = read_checkpoint(p)
        except CorruptCheckpoint as err:
            log.warning("checkpoint %s is corrupt (%s); trying the previous one", p, err)
            problems.append(str(err))
            continue
        if state["identity"] != identity:
            raise CheckpointError(
                f"checkpoint {p} belongs to another run and is refused:\n  checkpoint: {_describe(state['identity'])}\n"
                f"  this job:   {_describe(identity)}\nDelete {path.parent} to train this run from scratch."
            )
        if best is None or _progress(state) > _progress(best):
            best = state
            best_path = p
    if best is None:
        raise CheckpointError(
            f"every checkpoint of this run is corrupt ({'; '.join(problems)}). Refusing to restart from scratch "
            f"silently: delete {path.parent} to train this run from the beginning."
        )
    if problems:
        log.warning("resuming from %s (epoch %d, step %d) instead", best_path, best["epoch"], best["step"])
    best["loaded_from"] = str(best_path)  # which generation: the resume line names this file
    return best


def _progress(state: dict[str, Any]) -> tuple[int, int]:
    return int(state["epoch"]), int(state["step"])


def _describe(identity: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(identity.items()))


def attempts_log(path: Path) -> Path:
    """Beside the checkpoint: the log lines of every attempt of the run (Snakemake deletes a job's
    log when it reruns the job, so an interrupted attempt's lines are kept here for the next)."""
    return Path(path).with_name("attempts.log")


def remove(path: Path) -> None:
    """Delete every generation of the checkpoint at ``path`` (and its run and dataset folders, when left empty)."""
    path = Path(path)
    for p in (path.with_name(path.name + ".next"), path, previous_path(path), attempts_log(path)):
        p.unlink(missing_ok=True)
    for folder in (path.parent, path.parent.parent):
        try:
            folder.rmdir()
        except OSError:
            break
