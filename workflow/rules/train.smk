rule train_model:
    input:
        data="results/data/{dataset}.json",
        cache=data_cache("train"),
    output:
        model="results/{dataset}/{run}/model.pt",
        record="results/{dataset}/{run}/train.json",
    params:
        # Rerun trigger: a change to the dataset's training settings retrains.
        settings=lambda wc: stage_settings(config, wc.dataset, "train"),
    log:
        "logs/{dataset}/{run}/train.log",
    benchmark:
        "results/benchmarks/train/{dataset}/{run}.tsv"
    threads: config["threads"]
    resources:
        **job_resources("train"),
    conda:
        "../../environment.yml"
    script:
        "../scripts/train_model.py"
