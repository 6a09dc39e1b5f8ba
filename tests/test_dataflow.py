"""Data flows as the rules say: each job is given only the settings its rule passes as params (the
rerun trigger, sagr.config.stage_settings) plus how to run, and it reads every one of them."""

import copy

import pytest

from conftest import smoke_config_on_mnist
from sagr.config import (
    STAGE_KEYS,
    STAGE_SECTIONS,
    attack_suite,
    benchmark_settings,
    execution,
    job_settings,
    load,
    read_settings,
    schema,
    stage_settings,
)

# pgd_at trains on ε (so the training ε is read) and is cheap: two PGD steps.
RUN = "pgd_at_K2_a1_seed0"


class ReadLog(dict):
    """A job's settings that note which of their top-level keys the job looks up."""

    def __init__(self, settings: dict):
        super().__init__(settings)
        self.read: set[str] = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)


def declared(settings_json: str) -> ReadLog:
    """Exactly what the rule passes: a job reading anything else raises KeyError."""
    return ReadLog(read_settings(settings_json))


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    config = smoke_config_on_mnist(tmp_path_factory)
    config["datasets"]["mnist"].update(eval_subset=16, saliency_images=8)
    config["checkpoint"]["dir"] = str(tmp_path_factory.mktemp("checkpoints"))
    return config


@pytest.fixture(scope="module")
def trained(config, tmp_path_factory):
    from sagr import jobs

    settings = declared(stage_settings(config, "mnist", "train"))
    out = tmp_path_factory.mktemp("run")
    jobs.train_job(settings, execution(config), "mnist", RUN, out / "model.pt", out / "train.json")
    return settings, out


def test_train_job_reads_exactly_the_training_settings_its_rule_declares(trained):
    settings, out = trained
    assert (out / "model.pt").is_file()
    assert settings.read == set(STAGE_KEYS["train"]) | set(STAGE_SECTIONS["train"])


def test_evaluate_job_reads_exactly_the_evaluation_settings_and_suite(config, trained, tmp_path):
    from sagr import jobs

    _, out = trained
    settings = declared(stage_settings(config, "mnist", "evaluate", suite=attack_suite(config, ["fgsm"])))
    result = jobs.evaluate_job(
        settings, execution(config), "mnist", RUN, out / "model.pt", tmp_path / "r.json", tmp_path / "c.npz"
    )
    assert result["n_eval"] == 16 and {r["attack"] for r in result["records"]} == {"clean", "fgsm"}
    assert settings.read == set(STAGE_KEYS["evaluate"]) | {"suite"}


def test_saliency_job_reads_exactly_the_saliency_settings(config, trained, tmp_path):
    from sagr import jobs

    _, out = trained
    settings = declared(stage_settings(config, "mnist", "saliency"))
    result = jobs.saliency_job(
        settings, execution(config), "mnist", RUN, out / "model.pt", tmp_path / "s.json", tmp_path / "m.npz"
    )
    assert result["n_images"] == 8
    assert settings.read == set(STAGE_KEYS["saliency"])


def test_benchmark_job_reads_exactly_the_benchmark_settings(config, tmp_path):
    from sagr import jobs

    config = copy.deepcopy(config)
    config["methods"] = {m: config["methods"][m] for m in ("standard", "pgd_at")}
    config["benchmark"].update(steps=1, warmup=0, noise_draws=0)
    settings = declared(benchmark_settings(config))
    result = jobs.benchmark_job(settings, execution(config), tmp_path / "cost.json")
    assert {r["method"] for r in result["rows"]} == {"standard", "pgd_at"}
    assert settings.read == set(STAGE_KEYS["benchmark"]) | set(STAGE_SECTIONS["benchmark"])


def test_the_suite_travels_in_config_order_not_sorted(smoke_config):
    config = load(smoke_config)
    names = list(config["attacks"])
    assert names != sorted(names)  # else this test could not tell the two apart
    suite = job_settings(config, "mnist", "evaluate", suite=attack_suite(config, sorted(names)))["suite"]
    assert [name for name, _ in suite] == names
    assert dict(suite)["pgd"] == config["attacks"]["pgd"]


def test_a_stage_reruns_for_its_own_settings_only(smoke_config):
    before = load(smoke_config)

    def changed(key, value):
        after = copy.deepcopy(before)
        after["datasets"]["mnist"][key] = value
        return {
            s
            for s in ("train", "evaluate", "saliency")
            if stage_settings(before, "mnist", s) != stage_settings(after, "mnist", s)
        }

    assert changed("eval_batch_size", 32) == {"train", "evaluate", "saliency"}
    assert changed("eps", [0.2]) == {"evaluate"}
    assert changed("saliency_images", 16) == {"saliency"}
    assert changed("epochs", 2) == {"train"}


def test_reordering_the_attacks_reruns_evaluation_only(smoke_config):
    # The cascade runs in config order (each attack on what the earlier ones left robust), so the
    # order is a result-changing setting of the evaluate rule, and of no other.
    before = load(copy.deepcopy(smoke_config))
    after = copy.deepcopy(before)
    after["attacks"] = dict(reversed(list(before["attacks"].items())))

    def evaluate(config):
        return stage_settings(config, "mnist", "evaluate", suite=attack_suite(config))

    assert evaluate(before) != evaluate(after)
    for stage in ("train", "saliency"):
        assert stage_settings(before, "mnist", stage) == stage_settings(after, "mnist", stage)


def test_a_schema_default_reaches_the_job_through_its_settings(smoke_config):
    del smoke_config["datasets"]["mnist"]["eval_subset"]
    config = load(smoke_config)
    default = schema()["$defs"]["dataset"]["properties"]["eval_subset"]["default"]
    assert default is not None and smoke_config["datasets"]["mnist"]["eval_subset"] == default
    assert job_settings(config, "mnist", "evaluate")["eval_subset"] == default


def test_train_and_saliency_files_read_back_as_the_records_they_were_written_from(config, trained, tmp_path):
    """Byte for byte: a key a job wrote that the record does not know would be lost here (or missing)."""
    import json

    from sagr import jobs
    from sagr.job_records import SaliencyRecord, TrainRecord

    _, out = trained
    jobs.saliency_job(
        declared(stage_settings(config, "mnist", "saliency")), execution(config), "mnist", RUN,
        out / "model.pt", tmp_path / "s.json", tmp_path / "m.npz",
    )  # fmt: skip
    for path, record in ((out / "train.json", TrainRecord), (tmp_path / "s.json", SaliencyRecord)):
        text = path.read_text()
        assert json.dumps(record.from_json(json.loads(text)).to_json(), indent=1) == json.dumps(
            json.loads(text), indent=1
        ), path.name
    train = TrainRecord.read(out / "train.json")
    assert train.identity.run == RUN and not train.diverged
    assert [e.epoch for e in train.epochs_trained()] == list(
        range(1, config["datasets"]["mnist"]["epochs"] + 1)
    )
