"""RAVDESS names and the index: every field, every rule, both folder layouts, 02+03 pairing."""

from __future__ import annotations

from pathlib import Path

import pytest

from emofusion.data.ravdess import MalformedName, gender_of, index_ravdess, parse_name


def test_parse_every_field():
    n = parse_name("Actor_05/01-01-06-02-01-02-05.mp4")
    assert (n.modality, n.channel, n.emotion, n.intensity, n.statement, n.repetition, n.actor) == (
        1, 1, 6, 2, 1, 2, 5,
    )
    assert n.label == 5 and n.emotion_name == "fearful"
    assert n.modality_name == "av" and n.channel_name == "speech" and n.intensity_name == "strong"
    assert n.gender == "male" and gender_of(24) == "female"
    assert n.key == "06-02-01-02-05-01"
    assert n.stem() == "01-01-06-02-01-02-05"
    assert parse_name("03-02-01-01-02-01-24.wav").channel_name == "song"
    # The same recording has the same key in every modality.
    assert parse_name("02-01-06-02-01-02-05.mp4").key == n.key == parse_name("03-01-06-02-01-02-05.flac").key


@pytest.mark.parametrize(
    "name, reason",
    [
        ("03-01-01-01-01-01.wav", "seven two-digit fields"),
        ("03-01-01-01-01-01-1.wav", "seven two-digit fields"),
        ("a3-01-01-01-01-01-01.wav", "seven two-digit fields"),
        ("04-01-01-01-01-01-01.wav", "modality 04"),
        ("03-03-01-01-01-01-01.wav", "vocal channel 03"),
        ("03-01-09-01-01-01-01.wav", "emotion 09"),
        ("03-01-00-01-01-01-01.wav", "emotion 00"),
        ("03-01-02-03-01-01-01.wav", "intensity 03"),
        ("03-01-01-02-01-01-01.wav", "neutral (01) has no strong"),
        ("03-01-02-01-03-01-01.wav", "statement 03"),
        ("03-01-02-01-01-00-01.wav", "repetition 00"),
        ("03-01-02-01-01-01-25.wav", "actor 25"),
        ("03-01-02-01-01-01-00.wav", "actor 00"),
        ("03-02-07-01-01-01-01.wav", "song has no emotion 07"),
    ],
)
def test_malformed_names_say_why(name, reason):
    with pytest.raises(MalformedName) as info:
        parse_name(name)
    assert reason in info.value.reason and info.value.path.name == name


def _touch(root: Path, *rels: str) -> None:
    for rel in rels:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")


def test_index_official_layout_pairs_and_reports(tmp_path):
    _touch(
        tmp_path,
        "Actor_01/01-01-03-01-01-01-01.mp4",  # AV
        "Actor_01/03-01-03-01-01-01-01.wav",  # its audio: same recording
        "Actor_02/02-01-04-02-02-01-02.mp4",  # video-only ...
        "Actor_02/03-01-04-02-02-01-02.wav",  # ... paired with its audio
        "Actor_02/02-01-05-01-01-01-02.mp4",  # video-only, no audio
        "Actor_03/03-01-01-01-01-01-03.wav",  # audio-only
        "Actor_03/03-02-01-01-01-01-03.wav",  # song: excluded by default
        "Actor_03/03-01-01-01-01-01-04.wav",  # actor 04 in Actor_03: malformed
        "Actor_03/03-01-01-02-01-01-03.wav",  # neutral strong: malformed
        "Actor_03/03-01-02-01-01-01-03.mp4",  # audio modality with a video extension
        "Actor_03/README.txt",  # not media: skipped silently
        "Actor_03/._03-01-01-01-01-02-03.wav",  # macOS resource fork: hidden, skipped
    )
    ix = index_ravdess(tmp_path)
    by_key = {r.key: r for r in ix.items}
    assert len(ix.items) == 4
    av = by_key["03-01-01-01-01-01"]
    assert av.source == "av" and av.path.name.startswith("01-") and av.audio is not None
    pair = by_key["04-02-02-01-02-01"]
    assert pair.source == "video+audio" and pair.video.name.startswith("02-") and pair.audio.name.startswith("03-")
    assert by_key["05-01-01-01-02-01"].source == "video"
    assert by_key["01-01-01-01-03-01"].source == "audio" and by_key["01-01-01-01-03-01"].label == 0
    reasons = sorted(m.reason for m in ix.malformed)
    assert len(reasons) == 3
    assert any("Actor_03 but the name says actor 04" in r for r in reasons)
    assert any("neutral" in r for r in reasons) and any("video file extension" in r for r in reasons)
    assert [why for _, why in ix.ignored] == ["song (use include_song)"]

    with_song = index_ravdess(tmp_path, include_song=True)
    assert len(with_song.items) == 5 and not with_song.ignored
    audio_only = index_ravdess(tmp_path, modalities=("audio",))
    assert {r.source for r in audio_only.items} == {"audio"} and len(audio_only.items) == 3


def test_index_flat_folder_and_duplicates(tmp_path):
    _touch(tmp_path, "03-01-05-02-01-01-07.wav", "03-01-05-02-01-01-07.flac", "01-01-05-02-01-01-08.mp4")
    ix = index_ravdess(tmp_path)
    assert [r.actor for r in ix.items] == [7, 8] and ix.items[0].label == 4
    assert len(ix.ignored) == 1 and "duplicate" in ix.ignored[0][1]
    with pytest.raises(ValueError, match="unknown modality"):
        index_ravdess(tmp_path, modalities=("faces",))
    with pytest.raises(FileNotFoundError):
        index_ravdess(tmp_path / "missing")


def test_index_real_speech_folder(ravdess_speech_dir):
    ix = index_ravdess(ravdess_speech_dir)
    assert len(ix.items) == 1440 and not ix.malformed
    labels = [r.label for r in ix.items]
    assert labels.count(0) == 96 and all(labels.count(c) == 192 for c in range(1, 8))
    assert sorted({r.actor for r in ix.items}) == list(range(1, 25))
