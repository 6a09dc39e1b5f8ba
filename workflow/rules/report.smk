rule render_report:
    input:
        train=per_run("results/{dataset}/{run}/train.json"),
        robustness=per_run("results/{dataset}/{run}/robustness.json"),
        saliency=per_run("results/{dataset}/{run}/saliency.json"),
        maps=per_run("results/{dataset}/{run}/maps.npz"),
        benchmark=["results/benchmark/cost.json"] if config["benchmark"].get("enabled") else [],
    output:
        html="report/index.html",
        tex="report/report.tex",
        summary=directory("results/summary"),
    params:
        manifest=[e.as_dict() for e in MANIFEST],
    log:
        "logs/report.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
        gpu=0,
    conda:
        "../../environment.yml"
    script:
        "../scripts/render_report.py"
