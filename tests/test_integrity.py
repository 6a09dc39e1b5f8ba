"""Issue 18: what the report and the exports show is what the jobs wrote, or an error naming the file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import fake_results as fr
from conftest import REPO, sagr_cli
from sagr import export, jobs, results
from sagr.files import PREVIOUS_DIR, ArtefactError, sidecar, write_json

REBUILD = "Rebuild it (and what depends on it) with: snakemake --cores all --forcerun "


def _edit(path: Path, old: str, new: str) -> None:
    """Change a result file's text in place, as a hand edit would (its hash record untouched)."""
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, list[dict]]:
    return tmp_path / "results", fr.write_fake_results(tmp_path / "results", sweep=False)


def test_an_edited_accuracy_stops_the_report_and_the_export_naming_the_file(tree) -> None:
    """Case 1: "accuracy": 0.25 → 0.99 in a robustness.json used to reach records.csv and the report."""
    root, manifest = tree
    entry = manifest[0]
    path = root / entry["dataset"] / entry["run"] / "robustness.json"
    accuracy = path.read_text().split('"accuracy": ')[2].split(",")[0]  # the first attack's
    assert float(accuracy) != 0.99
    _edit(path, f'"accuracy": {accuracy}', '"accuracy": 0.99')
    with pytest.raises(ArtefactError) as err:
        results.load(manifest, fr.input_files(root, manifest))
    assert str(err.value).startswith(f"{path}: file is damaged: ") and REBUILD + str(path) in str(err.value)
    with pytest.raises(ArtefactError, match=f"^{path}: file is damaged"):
        export.export_run(root, root.parent / "rb")


@pytest.mark.parametrize("name", ["correct.npz", "train.json", "saliency.json"])
def test_every_file_the_report_reads_is_verified(tree, name: str) -> None:
    root, manifest = tree
    path = root / manifest[1]["dataset"] / manifest[1]["run"] / name
    sidecar(path).unlink()
    with pytest.raises(ArtefactError, match=f"^{path}: its hash record {name}.sha256 is missing"):
        results.load(manifest, fr.input_files(root, manifest))


def test_export_names_a_damaged_file_in_one_line(tree) -> None:
    root, manifest = tree
    path = root / manifest[0]["dataset"] / manifest[0]["run"] / "train.json"
    path.write_text(path.read_text()[:-20])
    proc = sagr_cli("export", "--results", str(root), "--out", str(root.parent / "rb"), cwd=REPO)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith(f"sagr export: {path}: file is damaged:") and REBUILD in proc.stderr


def _delete_outputs(*paths: Path) -> None:
    """What Snakemake does to a job's outputs when the job starts."""
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def test_a_failed_rerender_keeps_the_last_good_report_and_names_the_damaged_file(tmp_path, monkeypatch):
    """Case 5: a truncated correct.npz (BadZipFile, no file named) or an unparseable robustness.json
    (JSONDecodeError) failed the re-render and index.html, report.tex and results/summary/ were gone."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sagr.departures.departures", lambda config: [])  # fake_config is not a full config
    root = Path("results")
    manifest = fr.write_fake_results(root, sweep=False)
    write_json(root / "benchmark" / "cost.json", fr.fake_benchmark())
    inputs = {**fr.input_files(root, manifest), "benchmark": [root / "benchmark" / "cost.json"]}
    outputs = [Path("report/index.html"), Path("report/report.tex"), root / "summary", Path("report/figures")]
    jobs.report_job(fr.fake_config(), manifest, inputs, *outputs)
    good = {
        p: p.read_bytes() for p in outputs[:2] + sorted(outputs[2].glob("*")) + sorted(outputs[3].glob("*"))
    }
    assert len(good) > 4
    run = root / manifest[0]["dataset"] / manifest[0]["run"]
    truncate = lambda p: p.write_bytes(p.read_bytes()[:-100])  # noqa: E731
    unparseable = lambda p: p.write_text("{" + p.read_text())  # noqa: E731
    for damaged, damage in ((run / "correct.npz", truncate), (run / "robustness.json", unparseable)):
        original = damaged.read_bytes()
        damage(damaged)
        _delete_outputs(*outputs)
        with pytest.raises(ArtefactError) as err:
            jobs.report_job(fr.fake_config(), manifest, inputs, *outputs)
        message = str(err.value)
        assert message.startswith(f"{damaged}: file is damaged") and REBUILD + str(damaged) in message
        assert {p: (PREVIOUS_DIR / p).read_bytes() for p in good} == good
        damaged.write_bytes(original)


def _small_cnn_file(path: Path, **spec_changes) -> Path:
    """A saved small_cnn checkpoint whose spec says `spec_changes` (the weights stay 10-class, 28×28)."""
    import torch

    from sagr.files import save_torch
    from sagr.models import build_model

    spec = dict(arch="small_cnn", n_classes=10, in_channels=1, image_size=28, mean=[0.5], std=[0.5])
    weights = build_model(**spec).state_dict()
    save_torch({"spec": {**spec, **spec_changes}, "state_dict": weights}, path)
    assert isinstance(next(iter(weights.values())), torch.Tensor)
    return path


@pytest.mark.parametrize(
    "change, message",
    [
        ({"n_classes": 10**8}, "net.fc2.bias has shape (10,) in the file, (100000000,) for the spec"),
        (
            {"image_size": 10**5},
            "net.fc1.weight has shape (64, 512) in the file, (64, 19995200288) for the spec",
        ),
        ({"n_classes": 1e8}, "spec n_classes = 100000000.0 is not a positive integer"),
    ],
)
def test_a_spec_asking_for_a_huge_network_is_refused_before_any_allocation(tmp_path, change, message):
    """Item 7: n_classes 1e8 or image_size 1e5 in a checkpoint's spec allocated tens of GB before any
    check. Loaded in a process that may not allocate 2 GB: the old path dies there, not on the check."""
    import subprocess
    import sys

    path = _small_cnn_file(tmp_path / "model.pt", **change)
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_DATA, (2 << 30, 2 << 30))\n"
        "from sagr.models import load_model\n"
        "try:\n"
        f"    load_model({str(path)!r})\n"
        "except ValueError as err:\n"
        "    print(err)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().startswith(f"{path}: ") and message in proc.stdout, proc.stdout


def test_a_refused_checkpoint_is_one_line_not_a_traceback(tmp_path):
    """Item 7: `sagr evaluate` on a checkpoint carrying code printed a full traceback."""
    import os

    import torch

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'ran'}",))

    path = tmp_path / "evil.pt"
    torch.save({"spec": Payload(), "state_dict": {}}, path)
    proc = sagr_cli(
        "evaluate",
        str(path),
        "--dataset",
        "mnist",
        "--config",
        str(REPO / "config" / "smoke.yaml"),
        "--out",
        str(tmp_path / "out"),
        cwd=tmp_path,
    )
    lines = [line for line in proc.stderr.splitlines() if "WARNING" not in line]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith(
        f"sagr evaluate: {path}: refused to load: it holds pickled objects beyond tensors"
    )
    assert (
        "no hash record: read as a file you brought, not verified" in proc.stderr
    )  # and says it is the user's
    assert not (tmp_path / "ran").exists()


def test_the_reference_autoattack_is_recorded_by_its_parameters_not_its_address():
    """Item 7: robustness.json held repr(AutoAttack object at 0x…), so identical runs differed in bytes."""
    import torch
    import yaml

    from sagr.attacks import build_attack
    from sagr.config import load

    config = load(yaml.safe_load((REPO / "config" / "smoke.yaml").read_text()))
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 10))
    for name, spec in config["attacks"].items():
        first, second = (repr(build_attack(spec, model, 0.1, 10, 0)) for _ in range(2))
        assert first == second and " at 0x" not in first, (name, first)
    ref = repr(build_attack(config["attacks"]["autoattack_ref"], model, 0.1, 10, 0))
    assert "version=standard, n_iter=5, n_restarts=1, n_target_classes=2, n_queries=20, seed=0" in ref, ref
