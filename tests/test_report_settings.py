"""The report reads its rule's settings and the result files, nothing else: the settings it shows are the
ones the results were made with, and no module the render job imports reads a config file."""

import html as htmlib
import json
import subprocess
import sys
from pathlib import Path

import fake_results as fr
from sagr.config import load, read_settings, report_settings
from sagr.files import write_json

REPO = Path(__file__).resolve().parents[1]
RENDER = """
import json, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
opened = []
sys.addaudithook(lambda event, args: opened.append(str(args[0])) if event == "open" and args else None)
import fake_results as fr
from sagr.jobs import report_job
manifest = json.loads(Path({manifest!r}).read_text())
report_job(json.loads(Path({settings!r}).read_text()), manifest, fr.input_files(Path({root!r}), manifest),
           {out!r} + "/index.html", {out!r} + "/report.tex", {out!r} + "/summary", {out!r} + "/figures")
print(json.dumps(opened))
"""


def test_the_settings_shown_are_the_result_files_and_no_config_file_is_read(tmp_path):
    root, out = tmp_path / "results", tmp_path / "report"
    manifest = fr.write_fake_results(root, sweep=False)
    configured = load(REPO / "config" / "config.yaml")
    made_with = configured["datasets"]["mnist"]["epochs"] + 7  # the config was edited since the runs
    for e in manifest:  # what each training job recorded it ran with
        path = root / e["dataset"] / e["run"] / "train.json"
        data = json.loads(path.read_text())
        data["provenance"]["config"]["settings"] = {"epochs": made_with, "arch": "small_cnn"}
        write_json(path, data)
    settings = read_settings(report_settings(configured))
    (tmp_path / "settings.json").write_text(json.dumps(settings))
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    script = RENDER.format(tests=str(REPO / "tests"), manifest=str(tmp_path / "manifest.json"),
                           settings=str(tmp_path / "settings.json"), root=str(root), out=str(out))  # fmt: skip
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    opened = json.loads(done.stdout.strip().splitlines()[-1])
    assert [p for p in opened if Path(p).resolve().is_relative_to(REPO / "config")] == []
    assert [p for p in opened if p.endswith((".yaml", ".yml"))] == []
    page = htmlib.unescape((out / "index.html").read_text())
    section = page[page.index('id="config"') :]
    assert f"epochs: {made_with}" in section and f"epochs: {made_with - 7}\n" not in section
    # the render rule's own settings are shown as it passed them
    margin = settings["smallest_effect"]["accuracy"]
    assert "smallest_effect:\n  accuracy:" in section and f"value: {margin['value']}\n" in section


def test_the_render_rule_reruns_for_its_own_settings_only():
    config = load(REPO / "config" / "config.yaml")
    before = report_settings(config)
    config["threads"] = 7  # how jobs run: no report depends on it
    assert report_settings(config) == before
    config["datasets"]["mnist"]["floors"][0]["clean"] = 0.5
    assert report_settings(config) != before
