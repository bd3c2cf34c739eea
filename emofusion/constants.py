"""Names shared by every part of the system, so no module invents its own spelling."""

# RAVDESS emotion codes 01..08 map to these indices 0..7.
CLASSES: tuple[str, ...] = (
    "neutral",
    "calm",
    "happy",
    "sad",
    "angry",
    "fearful",
    "disgust",
    "surprised",
)
NUM_CLASSES = len(CLASSES)

# Names of the model inputs; ONNX graphs, caches and backends all use these keys.
AUDIO = "audio"
# Registered models that read the audio stream only (no face CNN).
AUDIO_ONLY_MODELS: tuple[str, ...] = ("audio", "audio_res", "audio_cnn2d", "audio_whisper", "audio_whisper_base")
FACES = "faces"
LOGITS = "logits"
# A fusion graph's second output, (B, 3, classes): its logits with both streams, with the voice
# alone (faces zeroed), with the face alone (voice zeroed), in this order.
STREAM_LOGITS = "stream_logits"
STREAMS: tuple[str, ...] = ("both", "voice", "face")
