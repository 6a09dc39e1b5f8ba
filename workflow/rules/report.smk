from sagr.files import restore_failed_report

# What a failed render must not take away: Snakemake deletes these when the render starts and again
# when it fails. The render job keeps a copy of every complete set (.sagr/previous/).
REPORT_OUTPUTS = [
    "report/index.html",
    "report/report.tex",
    "results/summary",
    "report/figures",
]


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
            REPORT_OUTPUTS[0], caption="../report/report_html.rst", category="Report"
        ),
        tex=REPORT_OUTPUTS[1],
        summary=report(
            directory(REPORT_OUTPUTS[2]),
            patterns=["{name}.csv"],
            caption="../report/tables.rst",
            category="Tables",
        ),
        figures=report(
            directory(REPORT_OUTPUTS[3]),
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
        settings=report_settings(config),
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


# A run that failed (the render, or a job before it) puts the last good report back if its outputs
# are gone, marked at its top as stale, and ends the console's output with the render's error (the
# damaged file and the command that rebuilds it), not only "check log files". Its file times are the
# old ones, so the next run retries the render.
onerror:
    message = restore_failed_report(REPORT_OUTPUTS, "logs/report.log")
    if message:
        # Snakemake recorded the failed render's inputs (the damaged file's checksum) as the report's:
        # without forgetting that record the next run would take the restored report for up to date.
        try:
            for output in rules.render_report.rule.output:
                workflow.persistence.cleanup_metadata(output)
        except Exception as err:
            message += f"\n(Snakemake's record of the report was not reset: {err}; rerun with --forcerun render_report)"
        print(message, file=sys.stderr)
