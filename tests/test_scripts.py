"""Experiment bookkeeping that lives in scripts/ (not in the package): the ablation table."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"scripts_{name}", REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ablation_table_reads_each_rows_results_file(tmp_path):
    ablation = load_script("ablation")
    results = {
        "n_folds": 2, "train_config": {"epochs": 3}, "model_config": {"audio_channels": 120},
        "summary": {"full": {"accuracy": {"mean": 0.6134, "std": 0.05}, "macro_f1": {"mean": 0.5987, "std": 0.04}}},
        "folds": [{"fold": "fold_1", "full": {"accuracy": 0.5, "macro_f1": 0.4}, "selection": {"val_f1": 0.55}},
                  {"fold": "fold_2", "full": {"accuracy": 0.7234, "macro_f1": 0.7011}}],
    }
    (tmp_path / "results.json").write_text(json.dumps(results))
    spec = {"title": "t", "notes": ["n"], "rows": [
        {"name": "ran", "change": "x", "results": "results.json", "commands": ["emofusion train ..."]},
        {"name": "absent", "change": "y", "results": "nope.json", "commands": ["c"]},
    ]}
    table = ablation.collect(spec, root=tmp_path)
    assert table["rows"][0]["accuracy"]["mean"] == 0.6134 and table["rows"][1]["missing"]
    md = ablation.markdown(table)
    assert "61.3 +- 5.0 %" in md and "| 50.0 % | 55.0 % |" in md and "one fold" not in md
    assert "not run" in md and "emofusion train ..." in md


def test_the_package_holds_no_experiment_bookkeeping():
    """Ablation rows and the brief's 'target met' checks are scripts/ and results/, not emofusion/."""
    sources = {p: p.read_text() for p in (REPO / "emofusion").rglob("*.py")}
    assert not (REPO / "emofusion" / "train" / "ablation.py").exists()
    for needle in ("target_met", "NOT met", "TARGET_MS", "TARGETS = {", "\"met\""):
        assert not [str(p) for p, text in sources.items() if needle in text], needle


def test_targets_are_checked_from_the_benchmark_results(tmp_path):
    targets = load_script("check_targets")
    (tmp_path / "media_bench.json").write_text(json.dumps({"ours_median_ms": {"total": 301.0}}))
    rows = [{"model": m, "face_size": 112, "fold_min": v, "idle_fold_min": v - 1}
            for m, v in (("ia", 75.0), ("ia-frozen", 30.5), ("ia-views", 6.0))]
    (tmp_path / "train_bench.json").write_text(json.dumps({"rows": rows}))
    checks = {c["what"]: c for c in targets.check(tmp_path)}  # no bench_backends.json
    assert checks["clip -> model inputs, whole path (median wall)"]["met"] is False
    assert checks["IA fold at 112 px, face CNN frozen (measured)"]["met"] is False
    assert checks["IA fold at 112 px, face CNN frozen (idle estimate)"]["met"] is True  # 29.5 min
    assert checks["IA fold at 112 px, face CNN frozen, features cached (measured)"]["met"] is True
    e2e = checks["end to end (decode + faces + features + models), p50"]
    assert e2e["met"] is None and "| not measured | <= 0.25 s | - |" in targets.markdown([e2e])
    single = "one audio network per fold (no ensemble, no TTA), mean 5-fold accuracy"
    assert checks[single]["met"] is None
    (tmp_path / "audio_single_5fold.json").write_text(json.dumps({"summary": {"full": {"accuracy": {"mean": 0.699}}}}))
    assert {c["what"]: c for c in targets.check(tmp_path)}[single]["met"] is False


def test_gpu_targets_are_judged_from_the_gpu_check(tmp_path):
    """Issue 31's targets read `emofusion bench gpu`'s JSON; torch rows only; training only at batch 64."""
    targets = load_script("check_targets")
    latency = [{"model": "ia", "backend": "torch_cuda_graph", "batch": 1, "p50_ms": 0.5},
               {"model": "ia", "backend": "torch_cuda", "batch": 1, "p50_ms": 5.0},
               {"model": "lt", "backend": "onnxruntime_cuda", "batch": 1, "p50_ms": 0.1},
               {"model": "face", "backend": "torch_cuda", "batch": 64, "p50_ms": 0.1}]
    gpu = {"latency": latency, "parity": [{"backend": "torch_cuda", "max_abs_prob_diff": 2e-3}],
           "e2e": {"p50_total_ms": 40.0}, "training": {"batch": 32, "samples_per_s": 5000.0}}
    (tmp_path / "gpu.json").write_text(json.dumps(gpu))
    checks = {c["what"]: c for c in targets.check(tmp_path)}
    assert checks["ia batch-1 p50, torch on the GPU"]["met"] is True  # the CUDA graph row counts
    assert checks["lt batch-1 p50, torch on the GPU"]["met"] is None  # an ORT row is not torch
    assert checks["face batch-1 p50, torch on the GPU"]["met"] is None  # batch 64 is not batch 1
    assert checks["torch on the GPU: probabilities vs the CPU (max abs diff)"]["met"] is False
    assert checks["end to end on the GPU, p50"]["met"] is True
    assert checks["IA training at batch 64 on the GPU"]["met"] is None


def test_committed_targets_table_matches_the_committed_results():
    targets = load_script("check_targets")
    assert (REPO / "results" / "shipped" / "targets.md").read_text() == targets.markdown(targets.check(REPO / "results"))


def test_bench_backends_reports_speedups_without_judging_them(tmp_path):
    """The package's report measures (speed-ups over torch); check_targets.py judges the same rows."""
    from emofusion.bench.backends_report import summarize, write_report

    result = json.loads((REPO / "results" / "bench" / "bench_backends.json").read_text())
    result["summary"] = summarize(result)
    ups = {(s["model"], s["backend"]): s["speedup"] for s in result["summary"]["speedups_vs_torch_b1"]}
    checks = {c["what"]: c["value"] for c in load_script("check_targets").check(REPO / "results")}
    assert ups[("ia", "ort_int8")] == round(checks["ia ort_int8 speed-up over torch eager, batch 1 (p50)"], 2)
    assert ("audio", "ort_fp32") in ups and not any(b == "torch" for _, b in ups)
    write_report(result, tmp_path)
    md = (tmp_path / "bench_backends.md").read_text()
    assert f"| ia | ort_int8 | {ups[('ia', 'ort_int8')]:.2f}x |" in md
    assert "met" not in md.split("## Speed-up")[1] and "target" not in md.lower()


def test_ship_rule_leaves_fold_1_out_of_the_choice(tmp_path):
    """Fold 1 holds actor 5: a candidate far better on fold 1 alone must not ship."""
    ship_rule = load_script("ship_rule")

    def run(accs):
        return {"folds": [{"fold": f"fold_{k}", "full": {"accuracy": a}} for k, a in enumerate(accs, 1)]}

    current, better_on_fold_1 = run([0.70, 0.68, 0.66, 0.70, 0.62]), run([0.95, 0.68, 0.66, 0.70, 0.61])
    assert not ship_rule.decide(current, better_on_fold_1)["ship_candidate"]
    assert ship_rule.decide(current, run([0.50, 0.68, 0.66, 0.70, 0.62]))["ship_candidate"]  # a tie ships
    for name, data in (("cur", current), ("cand", better_on_fold_1), ("short", run([0.7, 0.7]))):
        (tmp_path / f"{name}.json").write_text(json.dumps(data))
    assert ship_rule.main([str(tmp_path / "cur.json"), str(tmp_path / "cand.json"), "--out", str(tmp_path / "d")]) == 0
    assert "the current model stays" in (tmp_path / "d.md").read_text()
    assert ship_rule.main([str(tmp_path / "cur.json"), str(tmp_path / "short.json"), "--out", str(tmp_path / "e")]) == 2


def test_answer_rule_is_the_validated_choice_and_the_predictor_follows_it():
    """results/shipped/answer_rule.json is what scripts/answer_rule.py makes from the committed
    validation and real-recording files, and the predictor's headline rule picks that model."""
    rule = load_script("answer_rule")
    res = REPO / "results"
    made = rule.choose(json.loads((res / "fusion" / "val_streams.json").read_text()),
                       json.loads((res / "fusion" / "score_fusion.json").read_text()),
                       json.loads((res / "shipped" / "real_av.json").read_text()))
    committed = json.loads((res / "shipped" / "answer_rule.json").read_text())
    assert made["chosen"] == committed["chosen"] and made["rows"] == committed["rows"]
    assert rule.predictor_choice(REPO / "models") == made["chosen"]


def test_calibration_report_cross_fits_and_says_what_ships():
    """Validation 'after' is scored on actors the temperature was not fitted on; the table says
    which temperatures ship. The committed table is what the script makes of its JSON."""
    cal = load_script("calibrate_shipped")
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.full(8, 0.3), size=200)
    y, actors = rng.integers(0, 8, 200), np.repeat([7, 8, 19, 20], 50)
    out = cal.cross_fitted(p, y, actors)
    assert out.shape == p.shape and (out.argmax(1) == p.argmax(1)).all()
    assert np.allclose(out.sum(1), 1.0)
    committed = json.loads((REPO / "results" / "shipped" / "calibration.json").read_text())
    assert (REPO / "results" / "shipped" / "calibration.md").read_text() == cal.markdown(committed)
    for name, row in committed["models"].items():
        shipped = (REPO / "models" / name / "calibration.json").is_file()
        assert shipped == row["shipped"], name
        assert shipped == (row["validation"]["after"]["ece"] < row["validation"]["before"]["ece"]), name


def test_tune_top_rule_needs_a_mean_gain_and_wins_in_most_folds():
    tt = load_script("tune_top_5fold")

    def rows(gains):
        base = {"epochs": 10, "encoder_lr": 1e-4}
        return {0: {k: {**base, "best_val_without_actor5": 0.70} for k in tt.FOLDS},
                1: {k: {**base, "best_val_without_actor5": 0.70 + g} for k, g in zip(tt.FOLDS, gains)}}

    assert tt.summarise(rows([0.02, 0.01, 0.015, 0.01, -0.005]))["retrain"] is True  # +1.1, 4 wins
    assert tt.summarise(rows([0.06, 0.0, 0.0, -0.01, 0.01]))["retrain"] is False  # +1.2 but 2 wins
    s = tt.summarise(rows([0.01, 0.005, 0.005, 0.005, 0.005]))  # 5 wins, +0.6
    assert s["retrain"] is False and "not worth a retrain" in tt.markdown(s)


def test_whisper_pad30_rule_and_table():
    pad30 = load_script("whisper_pad30")

    def cand(crit, shippable):
        return {"val_per_fold": [crit] * 5, "mean_val": crit, "criterion": crit, "shippable": shippable}

    for pad_crit, wins in ((0.760, True), (0.755, False), (0.700, False)):
        found = {"candidates": {"own": cand(0.750, True), "pad": cand(pad_crit, False)}, "chosen": "own"}
        assert pad30.pad_wins(found, "own", "pad") is wins
        r = {"own_key": "own", "pad_key": "pad", "search": found, "pad_wins": wins, "command": "c",
             "encoder": {"own_length_ms": 20.0, "pad30_ms": 210.0}, "encoder_repeats": 10}
        md = pad30.markdown(r)
        assert f"{100 * (pad_crit - 0.75):+.1f} points" in md and "padded 210.0 ms" in md
        assert md.rstrip().endswith("own length stands.") is not wins and "| `pad` | no |" in md
