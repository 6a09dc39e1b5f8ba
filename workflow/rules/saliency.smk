rule saliency_model:
    input:
        data="results/data/{dataset}.json",
        model="results/{dataset}/{run}/model.pt",
        train="results/{dataset}/{run}/train.json",  # a diverged run gets a record, not numbers
        cache=data_cache("test"),
    output:
        record="results/{dataset}/{run}/saliency.json",
        maps="results/{dataset}/{run}/maps.npz",
    log:
        "logs/{dataset}/{run}/saliency.log",
    benchmark:
        "results/benchmarks/saliency/{dataset}/{run}.tsv"
    priority: job_priority("saliency")
    conda:
        "../../environment.yml"
    threads: config["threads"]
    resources:
        **job_resources("saliency"),
    params:
        settings=lambda wc: stage_settings(config, wc.dataset, "saliency"),
    script:
        "../scripts/saliency_model.py"
