#!/usr/bin/env bash
# Reproduce the shipped models (models/{audio,ia,lt}) and results/fusion/stills/cremad_check.* .
#
#   bash scripts/reproduce_models.sh            # what was run here: RAVDESS speech + actor stills, CPU
#   AV=1 bash scripts/reproduce_models.sh DIR   # with the full RAVDESS audio-visual download in DIR and a GPU
#
# Here (no RAVDESS video): the audio model is fold 1 of ablation row 55 (the distilled single
# network) made by scripts/reproduce_audio.sh; IA and LT train on fold 1 of the same protocol, on the speech clips
# paired with face crops of the same actor's still photo (emofusion.data.stills), 5 frames of 112 px
# faces per clip (CPU budget: 15 frames cost 3x as much and the still carries no emotion anyway),
# with the face CNN frozen at its random initialisation (--freeze-face: no pretrained weights exist
# here, and the stills carry no emotion), and the audio recipe of the ablation: every non-test actor
# plus 0.9x / 1.1x speed copies of their clips, 10 epochs, last epoch kept.
# With the real AV files (AV=1): the same `emofusion train`, with --cache built from the
# audio-visual clips at 224 px, all 5 folds, on the GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
WORK=${WORK:-../work-audio}
SHARED=${SHARED:-../shared/data}
export OMP_NUM_THREADS=1
CMD="bash scripts/reproduce_models.sh"

if [ "${AV:-0}" = 1 ]; then
    DATA=${1:?give the RAVDESS folder with the Actor_XX audio-visual clips}
    $PY -m emofusion preprocess "$DATA" --out "$WORK/ravdess-av224-mfcc40d" --audio-kind mfcc --n-mfcc 40 --deltas \
        --face-size 224 --modalities audio,faces --workers 8
    for f in ia lt; do
        $PY -m emofusion train --cache "$WORK/ravdess-av224-mfcc40d" --fusion $f --config scripts/configs/fusion_$f.json \
            --folds 1,2,3,4,5 --epochs 50 --device cuda --out "$WORK/runs/${f}_av224" --quiet
        $PY -m emofusion evaluate "$WORK/runs/${f}_av224" --results-dir results/fusion --results-name ${f}_av224_5fold --quiet
        $PY -m emofusion.export.card --run "$WORK/runs/${f}_av224" --fold 1 --results results/${f}_av224_5fold.json \
            --name $f --out models/$f --command "AV=1 $CMD $DATA" --data av
    done
    exit 0
fi

# 1. the audio model: fold 1 of audio_whisper (frozen Whisper tiny.en encoder + head, issue 27),
#    made, scored and shipped by scripts/reproduce_whisper.sh. (The former audio model, fold 1 of
#    ablation row 60, is made by scripts/reproduce_audio.sh; results/audio/ablation/audio_abl_kd8_res_ema_5fold.*.)
#    The fusions below keep the reference audio stack (their audio branch).
[ -f models/audio/card.json ] && grep -q audio_whisper models/audio/config.json || bash scripts/reproduce_whisper.sh

# 2. fusion caches: speech audio (plain, and the 0.9x / 1.1x copies) + the same actor's still-photo faces
#    through the real face path
for s in "" -speed0.9 -speed1.1; do
    $PY -m emofusion.data.stills --audio-cache "$WORK/ravdess-mfcc40d$s" --stills "$SHARED/ravdess-stills" \
        --out "$WORK/ravdess-mfcc40d$s-stills112f5" --face-size 112 --n-frames 5
done
X=(--extra-train-cache "$WORK/ravdess-mfcc40d-speed0.9-stills112f5" --extra-train-cache "$WORK/ravdess-mfcc40d-speed1.1-stills112f5")

# 3. IA and LT, fold 1 of the 5-fold protocol, with the audio recipe the ablation found (row 15/26):
#    all 19 non-test actors plus their speed copies, 10 epochs, last epoch kept; one process each
#    (here the two ran side by side)
for f in ia lt; do
    $PY -m emofusion train --cache "$WORK/ravdess-mfcc40d-stills112f5" --fusion $f --config scripts/configs/fusion_$f.json \
        --folds 1 --freeze-face --n-val 0 --epochs 10 "${X[@]}" --out "$WORK/runs/${f}_sp_frozen10" --quiet
    $PY -m emofusion evaluate "$WORK/runs/${f}_sp_frozen10" --results-dir results/fusion/stills --results-name ${f}_stills112f5_sp_fold1 --quiet
done

# 4. the CREMA-D check needs the models in place; the cards then quote it
for f in ia lt; do
    $PY -m emofusion.export.card --run "$WORK/runs/${f}_sp_frozen10" --fold 1 --results results/${f}_stills112f5_sp_fold1.json \
        --name $f --out models/$f --command "$CMD" --data stills
done
$PY -m emofusion evaluate --cremad "$SHARED/cremad-av" --models models
for f in audio ia lt; do
    data=stills; res=results/${f}_stills112f5_sp_fold1.json
    [ $f = audio ] && data=speech && res=$AUDIO_RES
    $PY -m emofusion.export.card --results "$res" --fold 1 --name $f --out models/$f \
        --command "$CMD" --data $data --cremad results/fusion/stills/cremad_check.json
done

# 5. INT8 accuracy of the shipped runs' fold models (results/bench/quantization.*)
$PY -m emofusion bench quantization "$AUDIO_RUN" "$WORK/runs/ia_sp_frozen10" "$WORK/runs/lt_sp_frozen10"

# 6-8. (FIVE_FOLD_IA=1, FIVE_FOLD_LT=1, FIVE_FOLD_IT=1) IA / LT / IT with the shipped recipe on all 5
#    folds: for IA and LT fold 1 is the shipped model's own run (copied, so it is not trained twice) and
#    folds 2-5 are new; IT is not shipped, so all its folds are new
#    -> results/{ia,lt,it}_stills112f5_sp_5fold.*
for f in ia lt it; do
    flag=FIVE_FOLD_${f^^}
    [ "${!flag:-0}" = 1 ] || continue
    mkdir -p "$WORK/runs/${f}_sp_frozen10_5fold"
    if [ $f != it ] && [ ! -d "$WORK/runs/${f}_sp_frozen10_5fold/fold_1" ]; then
        cp -r "$WORK/runs/${f}_sp_frozen10/fold_1" "$WORK/runs/${f}_sp_frozen10_5fold/"
    fi
    $PY -m emofusion train --cache "$WORK/ravdess-mfcc40d-stills112f5" --fusion $f --config scripts/configs/fusion_$f.json \
        --folds 1,2,3,4,5 --freeze-face --n-val 0 --epochs 10 "${X[@]}" --out "$WORK/runs/${f}_sp_frozen10_5fold" --resume --quiet
    $PY -m emofusion evaluate "$WORK/runs/${f}_sp_frozen10_5fold" --results-dir results/fusion/stills --results-name ${f}_stills112f5_sp_5fold --quiet
done
