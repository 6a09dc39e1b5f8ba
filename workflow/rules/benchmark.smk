rule benchmark_cost:
    input:
        data=f"results/data/{config['benchmark']['dataset']}.json",
        cache=f"{config['data']['root']}/cache/{config['benchmark']['dataset']}-train.pt",
        # committed files, named relative to the checkout: the same files from any working directory
        reference=[
            str(Path(workflow.basedir) / p) for p in config["benchmark"]["reference"]
        ],
    output:
        "results/benchmark/cost.json",
    log:
        "logs/benchmark/cost.log",
    benchmark:
        "results/benchmarks/benchmark_cost.tsv"
    conda:
        "../../environment.yml"
    threads: config["threads"]
    resources:
        mem_mb=stage_resource(config, config["benchmark"]["dataset"], "train", "mem_mb"),
        runtime=60,
        gpu=config["gpus_per_job"],
    params:
        settings=benchmark_settings(config),
    script:
        "../scripts/benchmark_cost.py"
