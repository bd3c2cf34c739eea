"""emofusion: audio-visual emotion recognition (face + voice -> 8 RAVDESS emotions)."""

__version__ = "0.1.0"
