rule fetch_dataset:
    output:
        "results/data/{dataset}.json",
    log:
        "logs/data/{dataset}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
        gpu=0,
    conda:
        "../../environment.yml"
    script:
        "../scripts/fetch_dataset.py"
