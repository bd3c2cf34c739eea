"""`emofusion bench media` runs end to end (tiny clip, one run) and writes both result files."""

from __future__ import annotations

import json

import pytest

from emofusion import cli


@pytest.mark.slow
def test_bench_media_writes_results(tmp_path, fixtures_dir):
    rc = cli.main(["bench", "media", "--size", "320x240", "--seconds", "1.2", "--runs", "1", "--warmup", "0",
                   "--comparison-runs", "0", "--face", str(fixtures_dir / "Actor_01.png"), "--out", str(tmp_path)])
    assert rc == 0
    r = json.loads((tmp_path / "media_bench.json").read_text())
    assert r["ours_faces_found"] == [15] and r["reference_faces_median_ms"] is None
    assert r["ours_median_ms"]["total"] >= r["ours_median_ms"]["faces"] > 0
    stages = {"decode_audio", "audio_features", "decode_video", "faces", "total"}
    assert set(r["serial_cpu_median_ms"]) == stages and set(r["before_median_ms"]) == stages
    assert len(r["loadavg_start"]) == 3 and "target_met" not in r  # targets: scripts/check_targets.py
    assert f"**Now: {r['ours_median_ms']['total']} ms per clip**" in (tmp_path / "media_bench.md").read_text()


def test_bench_media_bad_size_is_a_user_error(tmp_path, capsys):
    assert cli.main(["bench", "media", "--size", "big", "--out", str(tmp_path)]) == 2
    assert "--size" in capsys.readouterr().err
