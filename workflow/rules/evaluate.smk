rule evaluate_model:
    input:
        data="results/data/{dataset}.json",
        model="results/{dataset}/{run}/model.pt",
    output:
        record="results/{dataset}/{run}/robustness.json",
        correct="results/{dataset}/{run}/correct.npz",
    params:
        attacks=attacks_for,
        suite=lambda wc: {name: config["attacks"][name] for name in attacks_for(wc)},
        dataset_cfg=lambda wc: config["datasets"][wc.dataset],
    log:
        "logs/{dataset}/{run}/evaluate.log",
    threads: config["threads"]
    resources:
        **job_resources(),
    script:
        "../scripts/evaluate_model.py"
