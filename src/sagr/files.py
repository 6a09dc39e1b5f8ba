"""Result files: written atomically with a content hash, read through one verifying helper.

Writers: a reader never sees a half-written file, whatever kills the job, every file gets a
sidecar ``<file>.sha256`` (JSON: sha256, bytes, the job that wrote it, the run's --configfile
list), and a failed write names the file. Readers (``read_json``, ``read_npz``, ``load_torch``):
a missing, truncated or altered file, or one whose hash record is gone, is an ``ArtefactError``
naming the file, what wrote it and the one command that rebuilds it; never a bare ``OSError``.
Only a file the user brings (``brought=True``: their own checkpoint for ``sagr evaluate``, a
committed reference) may lack a record, and the reader says so in the log.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import shlex
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger("sagr")

# The Snakefile puts the run's --configfile list here (JSON), so that a job's error message names
# the command that rebuilds a file *of this run*: without them Snakemake plans the default config.
# Each hash record keeps the list too, for the commands run later outside Snakemake.
CONFIGFILES_ENV = "SAGR_CONFIGFILES"


@contextmanager
def atomic_path(path: str | Path, record_hash: bool = True) -> Iterator[Path]:
    """A temporary path beside ``path``, renamed onto it (mode 0644) only if the block succeeds.

    ``record_hash``: write the ``.sha256`` record readers verify (off for files with their own
    checksum, e.g. raw dataset files checked against the official MD5s). An OSError that names no
    file (a full disk: "[Errno 28] No space left on device") or only the temporary one is raised
    again naming ``path``, same type and errno; a failed write leaves ``path`` as it was."""
    path = Path(path)
    tmp = record = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Keep the real suffix last: np.savez appends ".npz" to any other name.
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".part{path.suffix}", dir=path.parent)
        os.close(fd)
        tmp = Path(name)
        yield tmp
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results and data are meant to be shared
        # The record is written before the rename: a full disk then fails with ``path`` untouched,
        # and only two renames separate the old file and record from the new ones.
        record = _sidecar_part(path, _stamp(tmp)) if record_hash else None
        os.replace(tmp, path)
        if record:
            os.replace(record, sidecar(path))
            keep_previous(path)
    except BaseException as err:
        for part in (tmp, record):
            if part is not None:
                part.unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise _naming(err, path, tmp) from err
        raise


def _naming(err: OSError, path: Path, tmp: Path | None) -> OSError:
    """``err`` naming ``path`` when it names no file or only the temporary one (whose name means
    nothing to the user); an error about another file (an input the block read) names that file
    already and is kept as it is, as is any error type beyond Python's own."""
    if type(err).__module__ != "builtins" or err.errno is None:
        return err
    if err.filename is not None and str(err.filename) != str(tmp):
        return err
    try:
        return type(err)(err.errno, err.strerror or str(err), str(path))
    except TypeError:  # a subclass with its own constructor
        return OSError(err.errno, err.strerror or str(err), str(path))


def write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as JSON atomically (numpy/torch scalars and arrays, Paths allowed)."""
    with atomic_path(path) as tmp:
        dump_json(tmp, obj)


def dump_json(path: str | Path, obj: Any) -> None:
    """``obj`` as JSON into ``path`` as it is (``write_json``'s format; the path one of ``atomic_path``)."""
    with open(path, "w") as fh:
        json.dump(obj, fh, indent=1, default=_to_builtin)


def plain(obj: Any, where: str = "value") -> Any:
    """``obj`` as plain data (dict with str keys, list, str, int, float, bool, None): what YAML, JSON
    and ``torch.load(weights_only=True)`` read back as written. Any mapping (Snakemake's config
    included) becomes a dict, a tuple a list, a numpy scalar a number; anything else is a TypeError
    naming ``where`` inside ``obj``."""
    if (
        hasattr(obj, "item") and getattr(obj, "ndim", None) == 0
    ):  # numpy / torch scalar (np.float64 is a float)
        return obj.item()
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if isinstance(obj, Mapping):
        if not all(isinstance(k, str) for k in obj):
            raise TypeError(f"{where}: mapping keys must be str")
        return {k: plain(v, f"{where}.{k}") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    raise TypeError(
        f"{where}: {type(obj).__name__} is not plain data (str, int, float, bool, None, list, dict)"
    )


def _to_builtin(obj: Any) -> Any:
    if hasattr(obj, "item") and getattr(obj, "ndim", 0) == 0:
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__}")


# ---------------------------------------------------------------- hashes


class ArtefactError(ValueError):
    """A file a job needs is missing, unreadable or not what its writer recorded."""


class MissingArtefactError(ArtefactError, FileNotFoundError):
    """A file a job needs does not exist (still a FileNotFoundError for callers that catch that)."""


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sidecar(path: str | Path) -> Path:
    """Where ``path``'s hash record lives."""
    path = Path(path)
    return path.with_name(path.name + ".sha256")


def _writer() -> str:
    """The Snakemake rule running this process (its script's ``snakemake`` object), else the program."""
    smk = getattr(sys.modules.get("__main__"), "snakemake", None)
    rule = getattr(smk, "rule", None)
    return f"rule {rule}" if rule else f"{Path(sys.argv[0]).name or 'python'} (outside Snakemake)"


def _stamp(path: Path) -> dict[str, Any]:
    """The hash record of ``path``: its SHA-256 and size, what wrote it and, inside a pipeline run,
    the run's --configfile list (so a command run later outside Snakemake, ``sagr export`` or
    ``sagr verify``, names the rebuild command of the run that wrote the file)."""
    stamp: dict[str, Any] = {"sha256": sha256(path), "bytes": path.stat().st_size, "written_by": _writer()}
    files = _run_configfiles()
    if files is not None:
        stamp["configfiles"] = files
    return stamp


def _sidecar_part(path: Path, stamp: dict[str, Any]) -> Path:
    """``stamp`` written to a temporary name beside ``path``'s record, for the caller to rename."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".sha256.part", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(stamp, fh)
        os.chmod(name, 0o644)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


# Snakemake deletes a job's outputs before running it, so a job cannot itself swap new results in
# only on success. Instead every result written under results/ is also hard-linked (no extra
# space) here, relative to the working directory; a failed rerun leaves the last good copy in it.
# A hard link is safe because every file kept here is written through atomic_path: a new version is
# a new file renamed onto the name, never the kept one rewritten in place (only a hand edit or a
# damaged disk changes both, and `sagr verify` checks both).
PREVIOUS_DIR = Path(".sagr") / "previous"


def _in_workdir(path: str | Path) -> Path | None:
    """``path`` relative to the working directory, or None outside it.

    Taken as written first: results/ may be a symlink (to another file system, say), and resolving
    it would put every result outside the working directory, so none would be kept. Then resolved,
    for an absolute path spelled through a symlink to the working directory itself."""
    path = Path(path)
    for where, cwd in ((Path(os.path.abspath(path)), Path.cwd()), (path.resolve(), Path.cwd().resolve())):
        try:
            return where.relative_to(cwd)
        except ValueError:
            continue
    return None


def keep_previous(path: str | Path) -> Path | None:
    """Link ``path`` and its hash record into PREVIOUS_DIR (results/ only), or copy them where no
    hard link can be made (results/ on another file system); the kept path, or None."""
    import shutil

    path = Path(path)
    rel = _in_workdir(path)
    if rel is None or rel.parts[:1] != ("results",):
        return None  # not a pipeline result
    kept = PREVIOUS_DIR / rel
    kept.parent.mkdir(parents=True, exist_ok=True)
    for src, dst in ((path, kept), (sidecar(path), sidecar(kept))):
        if not src.exists():
            continue
        tmp = dst.with_name(f".{dst.name}.link")
        tmp.unlink(missing_ok=True)
        try:
            os.link(src, tmp)
        except OSError:  # EXDEV (another file system), or no hard links here: a copy does the same
            shutil.copy2(src, tmp)
        os.replace(tmp, dst)
    return kept


def previous_path(path: str | Path) -> Path | None:
    """Where the last good copy of ``path`` is kept (None outside the working directory)."""
    rel = _in_workdir(path)
    return None if rel is None else PREVIOUS_DIR / rel


def keep_previous_set(paths: Sequence[str | Path]) -> list[Path]:
    """Copy a complete set of outputs (files or folders: the report, its figures and tables) into
    PREVIOUS_DIR, replacing the kept set only once every new one is there; the kept paths.

    Copies, not hard links: the report's writers rewrite files in place, which would change a
    linked copy too. Snakemake deletes the outputs when the report job starts, so this copy is the
    last good report until a new one is complete.
    """
    import shutil

    pairs = [(Path(p), previous_path(p)) for p in paths]
    pairs = [(src, kept) for src, kept in pairs if kept is not None]
    staging = PREVIOUS_DIR / f".staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    for src, kept in pairs:  # copy everything first: a failure here leaves the old set whole
        dst = staging / kept.relative_to(PREVIOUS_DIR)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copy2(src, dst)
    for _, kept in pairs:
        old = kept.with_name(f".{kept.name}.old")
        kept.parent.mkdir(parents=True, exist_ok=True)
        if kept.exists():
            os.replace(kept, old)
        os.replace(staging / kept.relative_to(PREVIOUS_DIR), kept)
        if old.is_dir():
            shutil.rmtree(old)
        else:
            old.unlink(missing_ok=True)
    shutil.rmtree(staging, ignore_errors=True)
    return [kept for _, kept in pairs]


def restore_previous_set(paths: Sequence[str | Path]) -> list[Path]:
    """Put the kept copies of a set of outputs back where they belong, when every one of them is gone
    (what Snakemake leaves of a failed job's outputs) and every kept copy exists; the restored paths.

    Their modification times are the kept ones, older than whatever made the job rerun, so the next
    run retries the job instead of taking the old outputs for up to date.
    """
    import shutil

    pairs = [(Path(p), previous_path(p)) for p in paths]
    if any(kept is None or not kept.exists() or dst.exists() for dst, kept in pairs):
        return []
    for dst, kept in pairs:
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(f".{dst.name}.restoring")
        if kept.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(kept, tmp)  # copy2: file times kept
        else:
            shutil.copy2(kept, tmp)
        os.replace(tmp, dst)
        shutil.copystat(kept, dst)
    return [dst for dst, _ in pairs]


def failure_line(log_file: str | Path) -> str | None:
    """The ``FAILED <stage>: <error>`` line a job's log ends with (``jobs.redirect_log``), if it failed."""
    try:
        lines = Path(log_file).read_text(errors="replace").splitlines()
    except OSError:
        return None
    return next((line for line in reversed(lines) if line.startswith("FAILED ")), None)


def restore_failed_report(outputs: Sequence[str | Path], log_file: str | Path) -> str | None:
    """After a run that failed: if the report's outputs are gone (Snakemake removes them when the
    render starts and again when it fails), put the last good ones back and mark the page's top as
    stale with the failure. Returns the console message, or None when nothing was restored."""
    import html
    import time

    restored = restore_previous_set(outputs)
    if not restored:
        return None
    page = next(p for p in restored if p.suffix == ".html")
    failed = failure_line(log_file) or f"the render did not finish (see {log_file})"
    stat = page.stat()
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(stat.st_mtime))
    banner = (
        '<div role="alert" style="background:#fde2e1;border:2px solid #b00020;padding:0.8em;margin:0.5em 0">'
        f"<strong>This is the last good report ({when}); a later render failed.</strong> "
        f"{html.escape(failed)} (full log: {html.escape(str(log_file))})</div>"
    )
    text = page.read_text()
    at = text.find(">", text.find("<body")) + 1 if "<body" in text else 0
    page.write_text(text[:at] + banner + text[at:])
    os.utime(page, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # still older than what failed the render
    return (
        f"{failed}\nThe last good report is back in place ({', '.join(map(str, restored))}), "
        f"marked at its top as stale; the render is retried on the next run. Log: {log_file}"
    )


def use_configfiles(paths: Any) -> None:
    """Record this run's ``--configfile`` list (relative to the working directory where inside it)
    for ``snakemake_command``; the jobs Snakemake starts inherit it."""
    cwd = Path.cwd().resolve()
    shown = []
    for p in paths:
        p = Path(p).resolve()
        shown.append(str(p.relative_to(cwd)) if p.is_relative_to(cwd) else str(p))
    os.environ[CONFIGFILES_ENV] = json.dumps(shown)


def _run_configfiles() -> list[str] | None:
    """The --configfile list of the run at hand (``use_configfiles``), None outside one."""
    raw = os.environ.get(CONFIGFILES_ENV)
    return json.loads(raw) if raw else None


def recorded_configfiles(path: str | Path) -> list[str] | None:
    """The --configfile list of the run that wrote ``path``, as its hash record holds it (None when
    the record is missing, unreadable or older than the field)."""
    try:
        files = json.loads(sidecar(path).read_text()).get("configfiles")
    except (OSError, ValueError, AttributeError):
        return None
    return files if isinstance(files, list) and all(isinstance(f, str) for f in files) else None


def snakemake_command(*args: str, configfiles: Sequence[str] | None = None) -> str:
    """``snakemake --cores all`` with ``configfiles`` (default: this run's, ``CONFIGFILES_ENV``), then ``args``."""
    files = (_run_configfiles() or []) if configfiles is None else list(configfiles)
    configs = ["--configfile", *files] if files else []
    return shlex.join(["snakemake", "--cores", "all", *configs, *args])


def rebuild_command(path: str | Path) -> str:
    """The one command that rebuilds ``path`` and everything computed from it: with the --configfile
    list of the run at hand (a job; ``sagr export --configfile``), else of the run that wrote ``path``
    (its hash record), so a command run outside Snakemake names the run's config files too."""
    files = _run_configfiles()
    if files is None:
        files = recorded_configfiles(path)
    return snakemake_command("--forcerun", str(path), configfiles=files or [])


def _problem(
    path: Path, what: str, writer: str | None = None, error: type[ArtefactError] = ArtefactError
) -> ArtefactError:
    by = f"; it was written by {writer}" if writer else ""
    return error(f"{path}: {what}{by}. Rebuild it (and what depends on it) with: {rebuild_command(path)}")


def verify(path: str | Path, brought: bool = False) -> None:
    """Raise ArtefactError unless ``path`` exists and matches the hash its writer recorded.

    ``brought``: a file the user brings, not one the pipeline wrote (their own checkpoint, a
    committed reference): without a hash record it is read unverified, and the log says so.
    Every file the pipeline writes has a record, so for one of those a missing record means the
    file cannot be trusted (a deleted record must not switch the check off).
    """
    path = Path(path)
    if not path.is_file():
        raise _problem(path, "file is missing", error=MissingArtefactError)
    try:
        stamp = json.loads(sidecar(path).read_text())
    except FileNotFoundError:
        if brought:
            log.warning("%s: no hash record: read as a file you brought, not verified", path)
            return
        raise _problem(
            path,
            f"its hash record {sidecar(path).name} is missing, so it cannot be verified "
            "(the pipeline writes one beside every file)",
        ) from None
    except (OSError, ValueError) as err:
        raise _problem(sidecar(path), f"unreadable hash record of {path.name} ({err})") from None
    size = path.stat().st_size
    if size != stamp.get("bytes", size):
        raise _problem(
            path,
            f"file is damaged: {size} bytes, {stamp['bytes']} when written (truncated?)",
            stamp.get("written_by"),
        )
    digest = sha256(path)
    if digest != stamp.get("sha256"):
        raise _problem(
            path,
            f"file is damaged: SHA-256 {digest[:16]}..., {str(stamp.get('sha256'))[:16]}... when written",
            stamp.get("written_by"),
        )


def verify_tree(root: str | Path) -> tuple[list[Path], list[str]]:
    """Every file under ``root`` with a hash record, and its kept copy under PREVIOUS_DIR, checked
    against the record (``verify``): (the files checked, one message per damaged or missing file)."""
    root = Path(root)
    kept = previous_path(root)
    checked, problems = [], []
    for tree in [root] + ([kept] if kept is not None and kept.is_dir() else []):
        for record in sorted(tree.rglob("*.sha256")):
            path = record.with_name(record.name[: -len(".sha256")])
            checked.append(path)
            try:
                verify(path)
            except ArtefactError as err:
                if tree == root:
                    problems.append(str(err))
                else:  # no command rebuilds a kept copy: the next good write of the result replaces it
                    what = str(err).split(". Rebuild it")[0]
                    original = root / path.relative_to(kept)
                    problems.append(
                        f"{what} (the last good copy of {original}, replaced when it is next written)"
                    )
    return checked, problems


def _read(path: str | Path, parse: Any, what: str, brought: bool) -> Any:
    path = Path(path)
    verify(path, brought)
    try:
        return parse(path)
    except ArtefactError:
        raise
    except pickle.UnpicklingError as err:  # weights_only refused code in the file: say so, keep the type
        raise pickle.UnpicklingError(
            f"{path}: refused to load: it holds pickled objects beyond tensors "
            f"(torch.load weights_only=True): {str(err).splitlines()[0]}"
        ) from err
    except Exception as err:  # noqa: BLE001 - any parser failure means the file is unusable
        writer = None
        try:
            writer = json.loads(sidecar(path).read_text()).get("written_by")
        except (OSError, ValueError):
            pass
        raise _problem(path, f"cannot read it as {what} ({type(err).__name__}: {err})", writer) from err


def read_json(path: str | Path, brought: bool = False) -> Any:
    """A JSON file, verified against its hash record (``brought``: see ``verify``)."""

    def parse(p: Path) -> Any:
        with open(p) as fh:
            return json.load(fh)

    return _read(path, parse, "JSON", brought)


def read_npz(path: str | Path, brought: bool = False) -> dict[str, Any]:
    """Every array of an .npz file (loaded into memory, pickles refused), verified against its hash record."""
    import numpy as np

    def parse(p: Path) -> dict[str, Any]:
        with np.load(p, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}

    return _read(path, parse, "an .npz archive", brought)


def load_torch(path: str | Path, map_location: Any = "cpu", brought: bool = False) -> Any:
    """torch.load(weights_only=True) of a verified file: no code from the file runs."""
    import torch

    return _read(
        path,
        lambda p: torch.load(p, map_location=map_location, weights_only=True),
        "a tensor file (torch.load, weights_only)",
        brought,
    )


def save_torch(obj: Any, path: str | Path) -> None:
    """torch.save atomically, with a sha256 sidecar; the same object always gives the same bytes.

    torch.save to a file *name* writes that name into the zip archive, and atomic_path's temp
    name is random, so it goes through a file object (archive name fixed) instead.
    """
    import torch

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        torch.save(obj, fh)
