"""Typed outcomes for clips that cannot be (fully) used.

A `ClipError` means nothing usable came out of the clip; a `Notice` rides along with a usable
result to say what was missing or changed (no face, no audio, padded, ...). Both carry a stable
`code` for programs and a sentence for people.
"""

from __future__ import annotations

from dataclasses import dataclass

from emofusion.errors import EmofusionError


class ClipError(EmofusionError):
    """The clip yields no usable input. `code` is one of the constants below."""

    UNREADABLE = "unreadable"  # not a media file, corrupt, truncated beyond use
    NO_STREAMS = "no_streams"  # neither a usable audio nor a usable video stream
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    NO_FACE = "no_face"  # a still photo in which no face is found (a clip without one is voice-only)

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class Notice:
    """Something the user should know about a usable result."""

    code: str
    message: str

    NO_AUDIO = "no_audio"  # no audio track (or undecodable): face-only answer
    NO_VIDEO = "no_video"  # no video track: prediction from audio only
    NO_FACE = "no_face"  # video but no face in any sampled frame: audio only
    FACES_FILLED = "faces_filled"  # some frames had no face; filled from the nearest detection
    PADDED = "padded"  # clip shorter than the window; padded
    SILENT = "silent"  # audio track present but digital silence
    PHOTO = "photo"  # a still photo: face-only answer (no voice)
    WINDOWED = "window"  # a long clip read as several windows; answers are their mean
    DAMAGED = "damaged"  # decoding stopped well before the duration the file states (truncated)

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}
