"""emofusion.media: the one path from a clip file to model inputs.

    load_clip(path, MediaConfig) -> ClipInputs        one window (centred, or from start_s)
    clip_windows(path, cfg, hop_s) -> [ClipInputs]     sliding windows over a long clip
    ClipInputs.model_inputs(cfg) / model_inputs(...)   float32 arrays, missing stream = zeros

Outcomes are typed (errors.py): ClipError UNREADABLE (not media, missing, an mp4 cut before its
index), NO_STREAMS, TOO_SHORT, TOO_LONG; Notices NO_AUDIO, NO_VIDEO, NO_FACE, FACES_FILLED, PADDED,
SILENT ride along with usable results. A streamable container cut short (mkv, webm, flv) is usable
with what decoded. Modules: video.py (PyAV frames by PTS, rotation), faces.py (MTCNN on a few key frames,
boxes interpolated, crops cut at full resolution),
audio.py (PyAV audio, MFCC/log-mel), synth.py (generated test/demo clips).
"""
