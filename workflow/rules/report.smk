rule render_report:
    input:
        train=per_run("results/{dataset}/{run}/train.json"),
        robustness=per_run("results/{dataset}/{run}/robustness.json"),
        saliency=per_run("results/{dataset}/{run}/saliency.json"),
        correct=per_run("results/{dataset}/{run}/correct.npz"),
        maps=per_run("results/{dataset}/{run}/maps.npz"),
        # So that a deleted model.pt reruns its training and everything computed from it.
        models=per_run("results/{dataset}/{run}/model.pt"),
        benchmark=(
            ["results/benchmark/cost.json"] if config["benchmark"]["enabled"] else []
        ),
    output:
        html=report(
            "report/index.html", caption="../report/report_html.rst", category="Report"
        ),
        tex="report/report.tex",
        summary=report(
            directory("results/summary"),
            patterns=["{name}.csv"],
            caption="../report/tables.rst",
            category="Tables",
        ),
        figures=report(
            directory("report/figures"),
            patterns=["{name}.png"],
            caption="../report/figures.rst",
            category="Figures",
        ),
    log:
        "logs/report.log",
    benchmark:
        "results/benchmarks/render_report.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
        gpu=0,
    params:
        manifest=[e.as_dict() for e in MANIFEST],
    script:
        "../scripts/render_report.py"


rule render_pdf:
    input:
        tex="report/report.tex",
        figures="report/figures",
    output:
        pdf=report(
            "report/report.pdf", caption="../report/report_pdf.rst", category="Report"
        ),
    log:
        "logs/report_pdf.log",
    benchmark:
        "results/benchmarks/render_pdf.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
        gpu=0,
    script:
        "../scripts/render_pdf.py"
