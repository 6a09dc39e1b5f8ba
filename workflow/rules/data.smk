rule fetch_dataset:
    output:
        "results/data/{dataset}.json",
    log:
        "logs/data/{dataset}.log",
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/fetch_dataset.py"
