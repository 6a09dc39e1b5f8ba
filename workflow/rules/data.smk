rule fetch_dataset:
    output:
        marker="results/data/{dataset}.json",
        # Each split as one tensor file, so jobs need neither torchvision nor the raw files.
        cache=multiext(
            f"{config['data']['root']}/cache/{{dataset}}",
            "-train.pt",
            "-test.pt",
            "-info.json",
        ),
    log:
        "logs/data/{dataset}.log",
    benchmark:
        "results/benchmarks/fetch/{dataset}.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
        gpu=0,
    script:
        "../scripts/fetch_dataset.py"
