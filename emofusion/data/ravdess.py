"""RAVDESS file names -> labelled recordings.

Every label comes from the file name (`MM-VV-EE-II-SS-RR-AA.ext`), so the parser is strict: a name
that breaks the documented scheme is reported as `MalformedName` with the reason, never guessed.
One recording (same emotion, intensity, statement, repetition, actor, channel) may exist as an
audio-visual file (01), a video-only file (02) and an audio-only file (03); the index groups them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from emofusion.constants import CLASSES

MODALITIES = {1: "av", 2: "video", 3: "audio"}
CHANNELS = {1: "speech", 2: "song"}
INTENSITIES = {1: "normal", 2: "strong"}
STATEMENTS = {1: "Kids are talking by the door", 2: "Dogs are sitting by the door"}
# Song recordings only cover these emotions (no disgust, no surprised).
SONG_EMOTIONS = frozenset({1, 2, 3, 4, 5, 6})
VIDEO_EXTS = frozenset({".mp4", ".mov", ".mkv", ".avi", ".webm", ".flv"})
AUDIO_EXTS = frozenset({".wav", ".flac", ".mp3", ".m4a", ".ogg", ".opus", ".aac"})
MEDIA_EXTS = VIDEO_EXTS | AUDIO_EXTS
NUM_ACTORS = 24
ACTORS: tuple[int, ...] = tuple(range(1, NUM_ACTORS + 1))

_NAME = re.compile(r"^(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})$")
_ACTOR_DIR = re.compile(r"^Actor_(\d+)$")


class MalformedName(ValueError):
    """A media file whose name is not a valid RAVDESS name; `reason` says which rule it breaks."""

    def __init__(self, path: str | Path, reason: str):
        super().__init__(f"{Path(path).name}: {reason}")
        self.path = Path(path)
        self.reason = reason


def gender_of(actor: int) -> str:
    """RAVDESS: odd-numbered actors are male, even-numbered female."""
    return "male" if actor % 2 else "female"


@dataclass(frozen=True)
class RavdessName:
    """All seven fields of one file name, as the integer codes RAVDESS uses."""

    modality: int
    channel: int
    emotion: int
    intensity: int
    statement: int
    repetition: int
    actor: int

    @property
    def label(self) -> int:
        """Class index into emofusion.constants.CLASSES (emotion code - 1)."""
        return self.emotion - 1

    @property
    def emotion_name(self) -> str:
        return CLASSES[self.label]

    @property
    def gender(self) -> str:
        return gender_of(self.actor)

    @property
    def modality_name(self) -> str:
        return MODALITIES[self.modality]

    @property
    def channel_name(self) -> str:
        return CHANNELS[self.channel]

    @property
    def intensity_name(self) -> str:
        return INTENSITIES[self.intensity]

    @property
    def key(self) -> str:
        """The recording, independent of modality: emotion-intensity-statement-repetition-actor-channel."""
        return "-".join(
            f"{v:02d}"
            for v in (self.emotion, self.intensity, self.statement, self.repetition, self.actor, self.channel)
        )

    def stem(self) -> str:
        return "-".join(
            f"{v:02d}"
            for v in (
                self.modality, self.channel, self.emotion, self.intensity,
                self.statement, self.repetition, self.actor,
            )
        )


def parse_name(path: str | Path) -> RavdessName:
    """Parse and validate a RAVDESS file name (directory and extension are not checked here)."""
    p = Path(path)
    m = _NAME.match(p.stem)
    if not m:
        raise MalformedName(p, "expected seven two-digit fields MM-VV-EE-II-SS-RR-AA")
    mod, ch, emo, inten, stmt, rep, actor = (int(g) for g in m.groups())
    checks = [
        (mod in MODALITIES, f"modality {mod:02d} not in 01 (AV), 02 (video), 03 (audio)"),
        (ch in CHANNELS, f"vocal channel {ch:02d} not in 01 (speech), 02 (song)"),
        (1 <= emo <= len(CLASSES), f"emotion {emo:02d} not in 01-08"),
        (inten in INTENSITIES, f"intensity {inten:02d} not in 01 (normal), 02 (strong)"),
        (stmt in STATEMENTS, f"statement {stmt:02d} not in 01-02"),
        (rep in (1, 2), f"repetition {rep:02d} not in 01-02"),
        (1 <= actor <= NUM_ACTORS, f"actor {actor:02d} not in 01-24"),
    ]
    for ok, reason in checks:
        if not ok:
            raise MalformedName(p, reason)
    if emo == 1 and inten == 2:
        raise MalformedName(p, "neutral (01) has no strong intensity (02)")
    if ch == 2 and emo not in SONG_EMOTIONS:
        raise MalformedName(p, f"song has no emotion {emo:02d} ({CLASSES[emo - 1]})")
    return RavdessName(mod, ch, emo, inten, stmt, rep, actor)


@dataclass
class Recording:
    """One recording with whichever files exist for it."""

    name: RavdessName  # fields shared by all its files (modality of the first one seen)
    av: Path | None = None
    video: Path | None = None
    audio: Path | None = None

    @property
    def key(self) -> str:
        return self.name.key

    @property
    def actor(self) -> int:
        return self.name.actor

    @property
    def label(self) -> int:
        return self.name.label

    @property
    def source(self) -> str:
        """What a loader uses: "av", "video+audio" (02 paired with 03), "video" or "audio"."""
        if self.av is not None:
            return "av"
        if self.video is not None:
            return "video+audio" if self.audio is not None else "video"
        return "audio"

    @property
    def path(self) -> Path:
        """The main file: the AV clip, else the video, else the audio."""
        return self.av or self.video or self.audio  # type: ignore[return-value]


@dataclass
class RavdessIndex:
    items: list[Recording] = field(default_factory=list)
    malformed: list[MalformedName] = field(default_factory=list)
    ignored: list[tuple[Path, str]] = field(default_factory=list)  # valid names not used, and why


def _modality_codes(modalities: Iterable[str | int]) -> set[int]:
    names = {v: k for k, v in MODALITIES.items()}
    codes = set()
    for m in modalities:
        code = m if isinstance(m, int) else names.get(str(m).strip())
        if code not in MODALITIES:
            raise ValueError(f"unknown modality {m!r}; use av, video, audio (or 1, 2, 3)")
        codes.add(code)
    return codes


def index_ravdess(
    root: str | Path,
    include_song: bool = False,
    modalities: Iterable[str | int] = ("av", "video", "audio"),
) -> RavdessIndex:
    """Walk `root` (official `Actor_XX/` folders or one flat folder) and group files by recording.

    Files that are not media (README, MANIFEST) are skipped silently; media files with a bad name
    go to `malformed`; valid files left out (song, unselected modality, duplicates) go to `ignored`.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"not a directory: {root}")
    wanted = _modality_codes(modalities)
    out = RavdessIndex()
    recs: dict[str, Recording] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or path.suffix.lower() not in MEDIA_EXTS:
            continue
        try:
            name = parse_name(path)
            dir_match = _ACTOR_DIR.match(path.parent.name)
            if dir_match and int(dir_match.group(1)) != name.actor:
                raise MalformedName(path, f"in folder {path.parent.name} but the name says actor {name.actor:02d}")
            is_video = path.suffix.lower() in VIDEO_EXTS
            if name.modality == 3 and is_video:
                raise MalformedName(path, "modality 03 (audio-only) with a video file extension")
            if name.modality in (1, 2) and not is_video:
                raise MalformedName(path, f"modality {name.modality:02d} (video) with an audio file extension")
        except MalformedName as exc:
            out.malformed.append(exc)
            continue
        if name.channel == 2 and not include_song:
            out.ignored.append((path, "song (use include_song)"))
            continue
        if name.modality not in wanted:
            out.ignored.append((path, f"modality {name.modality_name} not selected"))
            continue
        rec = recs.setdefault(name.key, Recording(name=name))
        slot = MODALITIES[name.modality]
        if getattr(rec, slot) is not None:
            out.ignored.append((path, f"duplicate of {getattr(rec, slot)}"))
            continue
        setattr(rec, slot, path)
    out.items = sorted(recs.values(), key=lambda r: (r.name.actor, r.name.channel, r.key))
    return out
