#!/usr/bin/env bash
# Reproduce the audio headline (results/audio/audio_5fold.*) and the ablation (results/audio/audio_ablation.*)
# end to end from the 1440 RAVDESS speech FLACs:
#   bash scripts/reproduce_audio.sh [DATA_DIR] [WORK_DIR]
# DATA_DIR defaults to ../shared/data/ravdess-speech, WORK_DIR (caches, runs) to ../work-audio.
# Training runs as NPROC DDP processes (torchrun, gloo on CPU; default 2 = the 2 cores used here).
# Set ABLATION=0 to run only the headline, REPLICATION_ONLY=1 to run only rows 23-47 (and 48-58);
# SINGLE=0 skips rows 48-62 (the distilled single networks; see reproduce_models.sh for the shipped one).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data/ravdess-speech}
WORK=${2:-../work-audio}
NPROC=${NPROC:-2}
PY=${PY:-.venv/bin/python}
CACHE=$WORK
RUNS=$WORK/runs
export OMP_NUM_THREADS=1
mkdir -p "$RUNS"
train() { $PY -m torch.distributed.run --standalone --nproc_per_node "$NPROC" -m emofusion train --fusion audio \
              --config scripts/configs/audio_final.json --quiet "$@"; }

# speed-perturbed copies of the MFCC cache (made once; preprocess resumes) and the flags that add them
speed_caches() {
    for s in 0.8 0.9 1.1 1.2; do
        $PY -m emofusion preprocess "$DATA" --out "$CACHE/ravdess-mfcc40d-speed$s" --audio-kind mfcc --n-mfcc 40 \
            --deltas --modalities audio --speed $s
    done
    X2=(--extra-train-cache "$CACHE/ravdess-mfcc40d-speed0.9" --extra-train-cache "$CACHE/ravdess-mfcc40d-speed1.1")
    X4=(); for s in 0.8 0.9 1.1 1.2; do X4+=(--extra-train-cache "$CACHE/ravdess-mfcc40d-speed$s"); done
}

# 1. feature caches through the one media path (emofusion.media.audio)
$PY -m emofusion preprocess "$DATA" --out "$CACHE/ravdess-mfcc40d" --audio-kind mfcc --n-mfcc 40 --deltas --modalities audio

# 2. the headline: 5-fold subject-wise CV, 15 epochs (scripts/configs/audio_final.json)
if [ "${REPLICATION_ONLY:-0}" != 1 ]; then
    train --cache "$CACHE/ravdess-mfcc40d" --out "$RUNS/audio_final"
    $PY -m emofusion evaluate "$RUNS/audio_final" --results-dir results/audio --results-name audio_5fold --quiet
fi

if [ "${ABLATION:-1}" = 1 ] && [ "${REPLICATION_ONLY:-0}" != 1 ]; then
    $PY -m emofusion preprocess "$DATA" --out "$CACHE/ravdess-mfcc10" --modalities audio
    train --cache "$CACHE/ravdess-mfcc10" --folds 1 --out "$RUNS/abl_mfcc10_fold1"
    $PY -m emofusion evaluate "$RUNS/abl_mfcc10_fold1" --results-dir results/audio/ablation --results-name audio_abl_mfcc10_fold1 --quiet
    train --cache "$CACHE/ravdess-mfcc40d" --folds 1 --time-masks 0 --freq-masks 0 --mixup 0 \
        --label-smoothing 0 --dropout 0 --out "$RUNS/abl_noaug_fold1"
    $PY -m emofusion evaluate "$RUNS/abl_noaug_fold1" --results-dir results/audio/ablation --results-name audio_abl_noaug_fold1 --quiet
    train --cache "$CACHE/ravdess-mfcc40d" --epochs 30 --folds 1 --out "$RUNS/abl_epochs30_fold1"
    $PY -m emofusion evaluate "$RUNS/abl_epochs30_fold1" --results-dir results/audio/ablation --results-name audio_abl_epochs30_fold1 --quiet
    train --cache "$CACHE/ravdess-mfcc40d" --time-masks 0 --freq-masks 0 --mixup 0 --label-smoothing 0 --dropout 0 \
        --out "$RUNS/abl_noaug_5fold"
    $PY -m emofusion evaluate "$RUNS/abl_noaug_5fold" --results-dir results/audio/ablation --results-name audio_abl_noaug_5fold --quiet
    # rows 6-11: the wider audio_res net, log-mel features, no validation actors
    $PY -m emofusion preprocess "$DATA" --out "$CACHE/ravdess-logmel128" --audio-kind logmel --n-mels 128 --modalities audio
    res() { train --fusion audio_res --config scripts/configs/audio_res.json --folds 1 "$@"; }
    res --cache "$CACHE/ravdess-mfcc40d" --out "$RUNS/res_fold1"
    res --cache "$CACHE/ravdess-logmel128" --out "$RUNS/res_logmel_fold1"
    res --cache "$CACHE/ravdess-mfcc40d" --dropout 0.5 --time-masks 3 --freq-masks 3 --out "$RUNS/res_d5_fold1"
    res --cache "$CACHE/ravdess-logmel128" --dropout 0.5 --time-masks 3 --freq-masks 3 --out "$RUNS/res_logmel_d5_fold1"
    train --cache "$CACHE/ravdess-mfcc40d" --epochs 30 --n-val 0 --folds 1 --out "$RUNS/e30_nval0_fold1"
    res --cache "$CACHE/ravdess-mfcc40d" --n-val 0 --out "$RUNS/res_nval0_fold1"
    for r in res res_logmel res_d5 res_logmel_d5 e30_nval0 res_nval0; do
        $PY -m emofusion evaluate "$RUNS/${r}_fold1" --results-dir results/audio/ablation --results-name audio_abl_${r}_fold1 --quiet
    done
    # rows 12-13: rows 10-11 on all 5 folds (fold 1 repeats rows 10-11 exactly: same seed)
    train --cache "$CACHE/ravdess-mfcc40d" --epochs 30 --n-val 0 --out "$RUNS/e30_nval0_5fold"
    res --cache "$CACHE/ravdess-mfcc40d" --n-val 0 --folds 1,2,3,4,5 --out "$RUNS/res_nval0_5fold"
    for r in e30_nval0 res_nval0; do
        $PY -m emofusion evaluate "$RUNS/${r}_5fold" --results-dir results/audio/ablation --results-name audio_abl_${r}_5fold --quiet
    done
    # row 14: rows 12 and 13 averaged (no training)
    $PY -m emofusion evaluate --ensemble "$RUNS/e30_nval0_5fold" "$RUNS/res_nval0_5fold" --out "$RUNS/ens_ref_res_5fold" \
        --results-dir results/audio/ablation --results-name audio_abl_ens_ref_res_5fold --quiet
    # rows 15-16: speed-perturbed copies of the training clips; row 17: rows 12, 13, 15, 16 averaged
    for s in 0.9 1.1; do
        $PY -m emofusion preprocess "$DATA" --out "$CACHE/ravdess-mfcc40d-speed$s" --audio-kind mfcc --n-mfcc 40 \
            --deltas --modalities audio --speed $s
    done
    X=(--extra-train-cache "$CACHE/ravdess-mfcc40d-speed0.9" --extra-train-cache "$CACHE/ravdess-mfcc40d-speed1.1")
    train --cache "$CACHE/ravdess-mfcc40d" --epochs 10 --n-val 0 "${X[@]}" --out "$RUNS/sp_e10_nval0_5fold"
    res --cache "$CACHE/ravdess-mfcc40d" --epochs 14 --n-val 0 --folds 1,2,3,4,5 "${X[@]}" --out "$RUNS/sp_res_nval0_5fold"
    for r in sp_e10_nval0 sp_res_nval0; do
        $PY -m emofusion evaluate "$RUNS/${r}_5fold" --results-dir results/audio/ablation --results-name audio_abl_${r}_5fold --quiet
    done
    $PY -m emofusion evaluate --ensemble "$RUNS/e30_nval0_5fold" "$RUNS/res_nval0_5fold" "$RUNS/sp_e10_nval0_5fold" \
        "$RUNS/sp_res_nval0_5fold" --out "$RUNS/ens4_5fold" --results-dir results/audio/ablation --results-name audio_abl_ens4_5fold --quiet
    # row 18: four speed copies; row 19: rows 12, 13, 15, 16, 18 averaged
    for s in 0.8 1.2; do
        $PY -m emofusion preprocess "$DATA" --out "$CACHE/ravdess-mfcc40d-speed$s" --audio-kind mfcc --n-mfcc 40 \
            --deltas --modalities audio --speed $s
    done
    X4=(); for s in 0.8 0.9 1.1 1.2; do X4+=(--extra-train-cache "$CACHE/ravdess-mfcc40d-speed$s"); done
    train --cache "$CACHE/ravdess-mfcc40d" --epochs 6 --n-val 0 "${X4[@]}" --out "$RUNS/sp4_e6_nval0_5fold"
    $PY -m emofusion evaluate "$RUNS/sp4_e6_nval0_5fold" --results-dir results/audio/ablation --results-name audio_abl_sp4_e6_nval0_5fold --quiet
    $PY -m emofusion evaluate --ensemble "$RUNS/e30_nval0_5fold" "$RUNS/res_nval0_5fold" "$RUNS/sp_e10_nval0_5fold" \
        "$RUNS/sp_res_nval0_5fold" "$RUNS/sp4_e6_nval0_5fold" --out "$RUNS/ens5_5fold" \
        --results-dir results/audio/ablation --results-name audio_abl_ens5_5fold --quiet
    # row 20: audio_res with the four speed copies; rows 21-22: ensembles
    res --cache "$CACHE/ravdess-mfcc40d" --epochs 8 --n-val 0 --folds 1,2,3,4,5 "${X4[@]}" --out "$RUNS/sp4_res_nval0_5fold"
    $PY -m emofusion evaluate "$RUNS/sp4_res_nval0_5fold" --results-dir results/audio/ablation --results-name audio_abl_sp4_res_nval0_5fold --quiet
    $PY -m emofusion evaluate --ensemble "$RUNS/sp_e10_nval0_5fold" "$RUNS/sp_res_nval0_5fold" "$RUNS/sp4_e6_nval0_5fold" \
        "$RUNS/sp4_res_nval0_5fold" --out "$RUNS/ens_sp4models_5fold" --results-dir results/audio/ablation --results-name audio_abl_ens_sp_5fold --quiet
    $PY -m emofusion evaluate --ensemble "$RUNS/e30_nval0_5fold" "$RUNS/res_nval0_5fold" "$RUNS/sp_e10_nval0_5fold" \
        "$RUNS/sp_res_nval0_5fold" "$RUNS/sp4_e6_nval0_5fold" "$RUNS/sp4_res_nval0_5fold" --out "$RUNS/ens6_5fold" \
        --results-dir results/audio/ablation --results-name audio_abl_ens6_5fold --quiet
    $PY scripts/ablation.py scripts/configs/audio_ablation.json --out results/audio/audio_ablation
fi

# rows 23-32: row 21's recipe mix with fresh seeds, then speed test-time augmentation; row 29 is the
# headline fixed before they ran. REPLICATION_ONLY=1 runs just this block (the caches are made if missing).
if [ "${ABLATION:-1}" = 1 ] || [ "${REPLICATION_ONLY:-0}" = 1 ]; then
    res() { train --fusion audio_res --config scripts/configs/audio_res.json --folds 1,2,3,4,5 "$@"; }
    speed_caches
    TTA=(--tta-cache "$CACHE/ravdess-mfcc40d-speed0.9" --tta-cache "$CACHE/ravdess-mfcc40d-speed1.1")
    # --resume: an interrupted run continues where it stopped (a finished fold is not retrained)
    res --cache "$CACHE/ravdess-mfcc40d" --epochs 8 --n-val 0 --seed 1 "${X4[@]}" --out "$RUNS/sp4_res_s1_5fold" --resume
    res --cache "$CACHE/ravdess-mfcc40d" --epochs 8 --n-val 0 --seed 2 "${X4[@]}" --out "$RUNS/sp4_res_s2_5fold" --resume
    res --cache "$CACHE/ravdess-mfcc40d" --epochs 14 --n-val 0 --seed 1 "${X2[@]}" --out "$RUNS/sp_res_s1_5fold" --resume
    train --cache "$CACHE/ravdess-mfcc40d" --epochs 10 --n-val 0 --seed 1 "${X2[@]}" --out "$RUNS/sp_e10_s1_5fold" --resume
    for r in sp4_res_s1 sp4_res_s2 sp_res_s1 sp_e10_s1; do
        $PY -m emofusion evaluate "$RUNS/${r}_5fold" --results-dir results/audio/ablation --results-name audio_abl_${r}_5fold --quiet
    done
    MEMBERS=("$RUNS/sp4_res_s1_5fold" "$RUNS/sp4_res_s2_5fold" "$RUNS/sp_res_s1_5fold" "$RUNS/sp_e10_s1_5fold")
    $PY -m emofusion evaluate --ensemble "${MEMBERS[@]}" --out "$RUNS/ens_s12_5fold" --results-dir results/audio/ablation --results-name audio_abl_ens_s12_5fold --quiet
    $PY -m emofusion evaluate --ensemble "$RUNS/sp4_res_s1_5fold" "${TTA[@]}" --out "$RUNS/sp4_res_s1_tta_5fold" \
        --results-dir results/audio/ablation --results-name audio_abl_sp4_res_s1_tta_5fold --quiet
    $PY -m emofusion evaluate --ensemble "${MEMBERS[@]}" "${TTA[@]}" --out "$RUNS/ens_s12_tta_5fold" \
        --results-dir results/audio/ablation --results-name audio_abl_ens_s12_tta_5fold --quiet
    # row 30: row 20's command again (a fixed seed must give the committed figures); row 31: a fifth member
    res --cache "$CACHE/ravdess-mfcc40d" --epochs 8 --n-val 0 "${X4[@]}" --out "$RUNS/sp4_res_rerun_5fold" --resume
    $PY -m emofusion evaluate "$RUNS/sp4_res_rerun_5fold" --results-dir results/audio/ablation --results-name audio_abl_sp4_res_rerun_5fold --quiet
    $PY -m emofusion evaluate --ensemble "${MEMBERS[@]}" "$RUNS/sp4_res_rerun_5fold" "${TTA[@]}" \
        --out "$RUNS/ens5_s012_tta_5fold" --results-dir results/audio/ablation --results-name audio_abl_ens5_s012_tta_5fold --quiet
    # row 32: row 30's fold 1 again on the same machine and caches (it must match row 30's fold 1 exactly)
    res --cache "$CACHE/ravdess-mfcc40d" --epochs 8 --n-val 0 --folds 1 "${X4[@]}" --out "$RUNS/sp4_res_rerun2_fold1" --resume
    $PY -m emofusion evaluate "$RUNS/sp4_res_rerun2_fold1" --results-dir results/audio/ablation --results-name audio_abl_sp4_res_rerun2_fold1 --quiet
    # rows 33-38 (session 5, fixed before they ran): five-speed TTA; fresh seeds 3, 2, 2 of rows 23, 25, 26;
    # the 2D CNN on log-mel 64 + deltas; row 38 (headline) = rows 23-26 and 34-37 with each member's own TTA copies
    TTA4=(); for s in 0.8 0.9 1.1 1.2; do TTA4+=(--tta-cache "$CACHE/ravdess-mfcc40d-speed$s"); done
    $PY -m emofusion evaluate --ensemble "${MEMBERS[@]}" "${TTA4[@]}" --out "$RUNS/ens_s12_tta4_5fold" \
        --results-dir results/audio/ablation --results-name audio_abl_ens_s12_tta4_5fold --quiet
    res --cache "$CACHE/ravdess-mfcc40d" --epochs 8 --n-val 0 --seed 3 "${X4[@]}" --out "$RUNS/sp4_res_s3_5fold" --resume
    res --cache "$CACHE/ravdess-mfcc40d" --epochs 14 --n-val 0 --seed 2 "${X2[@]}" --out "$RUNS/sp_res_s2_5fold" --resume
    train --cache "$CACHE/ravdess-mfcc40d" --epochs 10 --n-val 0 --seed 2 "${X2[@]}" --out "$RUNS/sp_e10_s2_5fold" --resume
    L="$CACHE/ravdess-logmel64d"
    $PY -m emofusion preprocess "$DATA" --out "$L" --audio-kind logmel --n-mels 64 --deltas --modalities audio
    for s in 0.9 1.1; do
        $PY -m emofusion preprocess "$DATA" --out "$L-speed$s" --audio-kind logmel --n-mels 64 --deltas \
            --modalities audio --speed $s
    done
    train --cache "$L" --fusion audio_cnn2d --config scripts/configs/audio_cnn2d.json --epochs 14 --n-val 0 \
        --folds 1,2,3,4,5 --extra-train-cache "$L-speed0.9" --extra-train-cache "$L-speed1.1" \
        --out "$RUNS/sp_cnn2d_5fold" --resume
    for r in sp4_res_s3 sp_res_s2 sp_e10_s2 sp_cnn2d; do
        $PY -m emofusion evaluate "$RUNS/${r}_5fold" --results-dir results/audio/ablation --results-name audio_abl_${r}_5fold --quiet
    done
    $PY -m emofusion evaluate --ensemble "${MEMBERS[@]}" "$RUNS/sp4_res_s3_5fold" "$RUNS/sp_res_s2_5fold" \
        "$RUNS/sp_e10_s2_5fold" "$RUNS/sp_cnn2d_5fold" "${TTA[@]}" --tta-cache "$L-speed0.9" --tta-cache "$L-speed1.1" \
        --out "$RUNS/ens8_tta_5fold" --results-dir results/audio/ablation --results-name audio_abl_ens8_tta_5fold --quiet
    # row 39 (post hoc, after row 38's figures): row 38 without the 2D CNN
    $PY -m emofusion evaluate --ensemble "${MEMBERS[@]}" "$RUNS/sp4_res_s3_5fold" "$RUNS/sp_res_s2_5fold" \
        "$RUNS/sp_e10_s2_5fold" "${TTA[@]}" --out "$RUNS/ens7_tta_5fold" --results-dir results/audio/ablation --results-name audio_abl_ens7_tta_5fold --quiet
    # rows 40-47 (session 6, fixed before they ran): fresh seeds 3, 4, 3, 4, 5 of rows 16, 20, 15, 16, 20;
    # row 45 (headline) = all 14 speed-perturbed 5-fold models with five-speed TTA; rows 46-47 take one change away each
    res --cache "$CACHE/ravdess-mfcc40d" --epochs 14 --n-val 0 --seed 3 "${X2[@]}" --out "$RUNS/sp_res_s3_5fold" --resume
    res --cache "$CACHE/ravdess-mfcc40d" --epochs 8 --n-val 0 --seed 4 "${X4[@]}" --out "$RUNS/sp4_res_s4_5fold" --resume
    train --cache "$CACHE/ravdess-mfcc40d" --epochs 10 --n-val 0 --seed 3 "${X2[@]}" --out "$RUNS/sp_e10_s3_5fold" --resume
    res --cache "$CACHE/ravdess-mfcc40d" --epochs 14 --n-val 0 --seed 4 "${X2[@]}" --out "$RUNS/sp_res_s4_5fold" --resume
    res --cache "$CACHE/ravdess-mfcc40d" --epochs 8 --n-val 0 --seed 5 "${X4[@]}" --out "$RUNS/sp4_res_s5_5fold" --resume
    for r in sp_res_s3 sp4_res_s4 sp_e10_s3 sp_res_s4 sp4_res_s5; do
        $PY -m emofusion evaluate "$RUNS/${r}_5fold" --results-dir results/audio/ablation --results-name audio_abl_${r}_5fold --quiet
    done
    for s in 0.8 1.2; do
        $PY -m emofusion preprocess "$DATA" --out "$L-speed$s" --audio-kind logmel --n-mels 64 --deltas \
            --modalities audio --speed $s
    done
    M8=("${MEMBERS[@]}" "$RUNS/sp4_res_s3_5fold" "$RUNS/sp_res_s2_5fold" "$RUNS/sp_e10_s2_5fold" "$RUNS/sp_cnn2d_5fold")
    M14=("${MEMBERS[@]}" "$RUNS/sp4_res_rerun_5fold" "$RUNS/sp4_res_s3_5fold" "$RUNS/sp_res_s2_5fold"
         "$RUNS/sp_e10_s2_5fold" "$RUNS/sp_cnn2d_5fold" "$RUNS/sp_res_s3_5fold" "$RUNS/sp4_res_s4_5fold"
         "$RUNS/sp_e10_s3_5fold" "$RUNS/sp_res_s4_5fold" "$RUNS/sp4_res_s5_5fold")
    T2=("${TTA[@]}" --tta-cache "$L-speed0.9" --tta-cache "$L-speed1.1")
    T4=("${TTA4[@]}"); for s in 0.8 0.9 1.1 1.2; do T4+=(--tta-cache "$L-speed$s"); done
    $PY -m emofusion evaluate --ensemble "${M14[@]}" "${T4[@]}" --out "$RUNS/ens14_tta4_5fold" \
        --results-dir results/audio/ablation --results-name audio_abl_ens14_tta4_5fold --quiet
    $PY -m emofusion evaluate --ensemble "${M14[@]}" "${T2[@]}" --out "$RUNS/ens14_tta_5fold" \
        --results-dir results/audio/ablation --results-name audio_abl_ens14_tta_5fold --quiet
    $PY -m emofusion evaluate --ensemble "${M8[@]}" "${T4[@]}" --out "$RUNS/ens8_tta4_5fold" \
        --results-dir results/audio/ablation --results-name audio_abl_ens8_tta4_5fold --quiet
    $PY scripts/ablation.py scripts/configs/audio_ablation.json --out results/audio/audio_ablation
fi

# rows 48-61 (sessions 8-11, fixed before they ran; SINGLE=0 skips them): one audio network per fold
# distilled from three fresh teachers (rows 48-50: seeds 6, 5, 4 of rows 20, 16, 15) in row 52, from
# five (rows 48-50, 52, 53) in row 55, from six (row 55 too) in row 57, from eight (rows 57, 58 too)
# with a moving average of its weights in row 60, the single-network headline until issue 27 (results/audio/ablation/audio_abl_kd8_res_ema_5fold.*; results/audio/audio_single_5fold.* is now audio_whisper's)
if [ "${SINGLE:-1}" = 1 ]; then
    speed_caches
    res() { train --fusion audio_res --config scripts/configs/audio_res.json --folds 1,2,3,4,5 --n-val 0 "$@"; }
    res --cache "$CACHE/ravdess-mfcc40d" --epochs 8 --seed 6 "${X4[@]}" --out "$RUNS/sp4_res_s6_5fold" --resume
    res --cache "$CACHE/ravdess-mfcc40d" --epochs 14 --seed 5 "${X2[@]}" --out "$RUNS/sp_res_s5_5fold" --resume
    train --cache "$CACHE/ravdess-mfcc40d" --folds 1,2,3,4,5 --n-val 0 --epochs 10 --seed 4 "${X2[@]}" \
        --out "$RUNS/sp_e10_s4_5fold" --resume
    for r in sp4_res_s6 sp_res_s5 sp_e10_s4; do
        $PY -m emofusion evaluate "$RUNS/${r}_5fold" --results-dir results/audio/ablation --results-name audio_abl_${r}_5fold --quiet
    done
    # student EPOCHS STUDENT TEACHER_RUN...: one audio_res per fold taught by the teachers (W 0.8, T 2,
    # seed 0, 4 speed copies); distill ENSEMBLE EPOCHS STUDENT TEACHER_RUN... first scores the
    # teachers' ensemble (no TTA, a row of its own)
    student() {
        local epochs=$1 out=$2 kd=() t
        shift 2
        for t in "$@"; do kd+=(--teacher "$t"); done
        res --cache "$CACHE/ravdess-mfcc40d" --epochs "$epochs" --seed 0 "${X4[@]}" "${kd[@]}" --distill-weight 0.8 \
            --distill-temperature 2 "${KD_EXTRA[@]}" --out "$RUNS/$out" --resume
    }
    distill() {
        $PY -m emofusion evaluate --ensemble "${@:4}" --out "$RUNS/$1" --results-dir results/audio/ablation --results-name "audio_abl_$1" --quiet
        student "${@:2}"
    }
    KD_EXTRA=()  # more train flags for the student (row 60: --ema-decay)
    # rows 51-52 (session 8): three teachers (rows 48-50), 12 epochs
    TEACHERS=("$RUNS/sp4_res_s6_5fold" "$RUNS/sp_res_s5_5fold" "$RUNS/sp_e10_s4_5fold")
    distill ens_teachers_5fold 12 kd3_res_5fold "${TEACHERS[@]}"
    $PY -m emofusion evaluate "$RUNS/kd3_res_5fold" --results-dir results/audio/ablation --results-name audio_abl_kd3_res_5fold --quiet
    # row 53: the control, row 52 without teachers
    res --cache "$CACHE/ravdess-mfcc40d" --epochs 12 --seed 0 "${X4[@]}" --out "$RUNS/sp4_res_e12_5fold" --resume
    $PY -m emofusion evaluate "$RUNS/sp4_res_e12_5fold" --results-dir results/audio/ablation --results-name audio_abl_sp4_res_e12_5fold --quiet
    # rows 54-55 (session 9, fixed before they ran): five teachers (rows 48-50, 52, 53), 20 epochs;
    # row 55 was session 9's single-network headline and shipped models/audio
    TEACHERS5=("${TEACHERS[@]}" "$RUNS/kd3_res_5fold" "$RUNS/sp4_res_e12_5fold")
    distill ens_teachers5_5fold 20 kd5_res_e20_5fold "${TEACHERS5[@]}"
    $PY -m emofusion evaluate "$RUNS/kd5_res_e20_5fold" --results-dir results/audio/ablation --results-name audio_abl_kd5_res_e20_5fold --quiet
    # rows 56-57 (session 10, fixed before they ran): row 55 joins the teachers, 25 epochs;
    # row 57 was session 10's single-network headline and shipped models/audio
    distill ens_teachers6_5fold 25 kd6_res_e25_5fold "${TEACHERS5[@]}" "$RUNS/kd5_res_e20_5fold"
    $PY -m emofusion evaluate "$RUNS/kd6_res_e25_5fold" --results-dir results/audio/ablation --results-name audio_abl_kd6_res_e25_5fold --quiet
    # row 58: the control, row 55 without teachers
    res --cache "$CACHE/ravdess-mfcc40d" --epochs 20 --seed 0 "${X4[@]}" --out "$RUNS/sp4_res_e20_5fold" --resume
    $PY -m emofusion evaluate "$RUNS/sp4_res_e20_5fold" --results-dir results/audio/ablation --results-name audio_abl_sp4_res_e20_5fold --quiet
    # rows 59-61 (session 11, fixed before they ran): all eight runs above teach, and the student's
    # weights are averaged over steps; row 60 is the single-network headline, its fold 1 models/audio
    KD_EXTRA=(--ema-decay 0.999)
    TEACHERS8=("${TEACHERS5[@]}" "$RUNS/kd5_res_e20_5fold" "$RUNS/kd6_res_e25_5fold" "$RUNS/sp4_res_e20_5fold")
    distill ens_teachers8_5fold 20 kd8_res_ema_5fold "${TEACHERS8[@]}"
    KD_EXTRA=()
    $PY -m emofusion evaluate "$RUNS/kd8_res_ema_5fold" --results-dir results/audio/ablation --results-name audio_abl_kd8_res_ema_5fold --quiet
    # row 61: the same run's last raw weights (fold_k/raw.pt), to see what the averaging bought
    raw_weights() {  # RUN OUT: a run directory whose fold models are RUN's raw.pt
        local f d
        rm -rf "$2" && mkdir -p "$2" && cp "$1/run.json" "$1/train_config.json" "$2/"
        for f in "$1"/fold_*; do
            d="$2/$(basename "$f")"; mkdir -p "$d"
            cp "$f/split.json" "$f/metrics.jsonl" "$d/" && ln -s "$(realpath "$f/raw.pt")" "$d/best.pt"
        done
    }
    raw_weights "$RUNS/kd8_res_ema_5fold" "$RUNS/kd8_res_raw_5fold"
    $PY -m emofusion evaluate "$RUNS/kd8_res_raw_5fold" --results-dir results/audio/ablation --results-name audio_abl_kd8_res_raw_5fold --quiet
    $PY -m emofusion bench quantization "$RUNS/kd8_res_ema_5fold" --out results/audio/quantization_audio
    # row 62 (session 12, fixed before it ran): row 60 with a wider student (audio_width 96), the same
    # eight teachers; scripts/ship_rule.py decides from folds 2-5 whether its fold 1 replaces models/audio
    KD_EXTRA=(--ema-decay 0.999 --config scripts/configs/audio_res_w96.json)
    student 20 kd8_w96_ema_5fold "${TEACHERS8[@]}"
    KD_EXTRA=()
    $PY -m emofusion evaluate "$RUNS/kd8_w96_ema_5fold" --results-dir results/audio/ablation --results-name audio_abl_kd8_w96_ema_5fold --quiet
    $PY scripts/ship_rule.py results/audio/ablation/audio_abl_kd8_res_ema_5fold.json results/audio/ablation/audio_abl_kd8_w96_ema_5fold.json \
        --out results/audio/ship_rule_s12
    $PY scripts/ablation.py scripts/configs/audio_ablation.json --out results/audio/audio_ablation
fi
