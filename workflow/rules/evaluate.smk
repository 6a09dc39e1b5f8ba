rule evaluate_model:
    input:
        data="results/data/{dataset}.json",
        model="results/{dataset}/{run}/model.pt",
        train="results/{dataset}/{run}/train.json",  # a diverged run gets a record, not numbers
        cache=data_cache("test"),
    output:
        record="results/{dataset}/{run}/robustness.json",
        correct="results/{dataset}/{run}/correct.npz",
    log:
        "logs/{dataset}/{run}/evaluate.log",
    benchmark:
        "results/benchmarks/evaluate/{dataset}/{run}.tsv"
    priority: job_priority("evaluate")
    conda:
        "../../environment.yml"
    threads: config["threads"]
    resources:
        **job_resources("evaluate"),
    params:
        # Rerun trigger and the job's input: the suite is a list, in the order the attacks run.
        settings=lambda wc: stage_settings(
            config, wc.dataset, "evaluate", suite=attack_suite(config, attacks_for(wc))
        ),
    script:
        "../scripts/evaluate_model.py"
