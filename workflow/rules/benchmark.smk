rule benchmark_cost:
    input:
        data=f"results/data/{config['benchmark'].get('dataset', 'mnist')}.json",
    output:
        "results/benchmark/cost.json",
    params:
        benchmark=config["benchmark"],
    log:
        "logs/benchmark/cost.log",
    threads: config["threads"]
    resources:
        **job_resources(),
    script:
        "../scripts/benchmark_cost.py"
