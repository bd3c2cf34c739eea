"""Provenance recorded with every run: cache fingerprints, library versions, the machine."""

import json

from train_data import write_cache

from emofusion.data.cache import FeatureCache, write_entry
from emofusion.provenance import FINGERPRINT, cache_fingerprint, versions
from emofusion.train.config import TrainConfig
from emofusion.train.cv import RUN_JSON, run_cv


def test_fingerprint_follows_the_contents_not_the_files(tmp_path):
    a = FeatureCache(write_cache(tmp_path / "a", actors=(1, 2), per_class=2))
    b = FeatureCache(write_cache(tmp_path / "b", actors=(1, 2), per_class=2))  # same seed: same arrays
    fa = cache_fingerprint(a)
    assert len(fa) == 64 and fa == cache_fingerprint(b)  # npz bytes differ (zip times), contents do not
    assert json.loads((a.root / FINGERPRINT).read_text())["sha256"] == fa
    other = FeatureCache(write_cache(tmp_path / "c", actors=(1, 2), per_class=2, seed=1))
    assert cache_fingerprint(other) != fa
    # one value changed in one entry (a rewrite through the writer; the manifest is untouched, so the
    # stored digest is what a second call returns: it is keyed by the manifest, as documented)
    rec = b.entries[0]
    arrays = b.load(rec["id"])
    arrays["audio"] = arrays["audio"].copy()
    arrays["audio"][0, 0] += 1e-3
    write_entry(b.root, rec["id"], {k: v for k, v in arrays.items() if v is not None})
    (b.root / FINGERPRINT).unlink()
    assert cache_fingerprint(FeatureCache(b.root)) != fa


def test_runs_and_results_record_provenance(tmp_path):
    cache = FeatureCache(write_cache(tmp_path / "c", actors=(1, 2, 3), per_class=2, classes=tuple(range(8))))
    cfg = TrainConfig(fusion="audio", epochs=1, protocol="custom", test_actors=(3,), val_actors=(2,))
    run = run_cv(cache.root, cfg, tmp_path / "run", progress=False)
    prov = json.loads((run / RUN_JSON).read_text())["provenance"]
    assert prov["caches"] == {str(cache.root.resolve()): cache_fingerprint(cache)}
    assert prov["versions"]["librosa"] == versions()["librosa"] and prov["machine"]["cores"] >= 1
    assert json.loads((run / "results.json").read_text())["provenance"] == prov


def test_provenance_command(tmp_path, capsys):
    from emofusion.cli import main

    cache = FeatureCache(write_cache(tmp_path / "c", actors=(1,), per_class=1))
    assert main(["provenance", str(cache.root), "--out", str(tmp_path / "p.json")]) == 0
    assert json.loads((tmp_path / "p.json").read_text())["caches"] == {str(cache.root): cache_fingerprint(cache)}
    capsys.readouterr()
    assert main(["provenance", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "not a feature cache" in err and "Traceback" not in err


def test_preprocess_twice_gives_the_same_fingerprint(tmp_path, fixtures_dir):
    """The feature path is deterministic on one machine: a real FLAC preprocessed into two caches
    (plain and speed-perturbed) fingerprints the same both times, and the two speeds differ."""
    import shutil

    from emofusion import cli

    data = tmp_path / "data" / "Actor_01"
    data.mkdir(parents=True)
    shutil.copy(fixtures_dir / "03-01-05-02-01-01-01.flac", data)
    prints = {}
    for name, speed in (("a", "1.0"), ("b", "1.0"), ("s", "0.9")):
        assert cli.main(["preprocess", str(data.parent), "--out", str(tmp_path / name), "--modalities", "audio",
                         "--workers", "1", "--speed", speed]) == 0
        prints[name] = cache_fingerprint(FeatureCache(tmp_path / name))
    assert prints["a"] == prints["b"] != prints["s"]
