rule train_model:
    input:
        data="results/data/{dataset}.json",
        cache=data_cache("train"),
        checked=run_checked,
    output:
        model="results/{dataset}/{run}/model.pt",
        record="results/{dataset}/{run}/train.json",
    log:
        "logs/{dataset}/{run}/train.log",
    benchmark:
        "results/benchmarks/train/{dataset}/{run}.tsv"
    priority: job_priority("train")
    conda:
        "../../environment.yml"
    threads: config["threads"]
    resources:
        **job_resources("train"),
    params:
        # Rerun trigger and the job's input: a change to what training reads retrains (a
        # method's recipe: that method's runs only).
        settings=lambda wc: stage_settings(
            config, wc.dataset, "train", decode_run(wc.run).method
        ),
    script:
        "../scripts/train_model.py"
