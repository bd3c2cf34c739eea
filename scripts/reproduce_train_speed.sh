#!/usr/bin/env bash
# Reproduce results/bench/train_bench.* (extrapolated from timed steps) and the real timed IA fold
# results/fusion/stills/ia_views_stills112_fold1.* (its 'training (min)' column is the measured training time).
#
#   bash scripts/reproduce_train_speed.sh [WORK_DIR]
#
# The real fold: IA at 112 px, 15 frames, the brief's defaults (Adam 1e-4, batch 8, 50 epochs),
# face CNN frozen at its random initialisation (no pretrained weights here) with cached face
# features (--face-views 8) and precise BN (needed with a random frozen face CNN: docs/TRAINING.md),
# on fold 1 of the stills cache (speech audio + each actor's still photo, emofusion.data.stills).
# Run it on an otherwise idle machine: both benchmarks measure wall time.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
WORK=${1:-../work-audio}
SHARED=${SHARED:-../shared/data}

$PY -m emofusion bench train

[ -d "$WORK/ravdess-mfcc40d" ] || $PY -m emofusion preprocess "$SHARED/ravdess-speech" --out "$WORK/ravdess-mfcc40d" \
    --audio-kind mfcc --n-mfcc 40 --deltas --modalities audio
$PY -m emofusion.data.stills --audio-cache "$WORK/ravdess-mfcc40d" --stills "$SHARED/ravdess-stills" \
    --out "$WORK/ravdess-mfcc40d-stills112" --face-size 112 --n-frames 15
OMP_NUM_THREADS=2 $PY -m emofusion train --cache "$WORK/ravdess-mfcc40d-stills112" --fusion ia --freeze-face \
    --face-views 8 --precise-bn 20 --folds 1 --out "$WORK/runs/ia_views_f15_e50" --quiet
$PY -m emofusion evaluate "$WORK/runs/ia_views_f15_e50" --results-dir results/fusion/stills --results-name ia_views_stills112_fold1 --quiet
