"""emofusion.atomic.atomic_write: the one atomic file write (cache entries, configs, last.pt)."""

import os

import numpy as np
import pytest

from emofusion.atomic import atomic_write, atomic_write_bytes


def test_a_write_replaces_the_file_whole_with_the_umask_permissions(tmp_path):
    path = tmp_path / "sub" / "x.bin"
    atomic_write_bytes(path, b"old")
    atomic_write(path, lambda f: np.save(f, np.arange(3)))
    assert np.load(path).tolist() == [0, 1, 2]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in path.parent.iterdir()] == ["x.bin"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "x.bin"
    atomic_write_bytes(path, b"old")

    def half(f):
        f.write(b"new but not all of it")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, half)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.bin"]


def test_a_temporary_left_by_a_killed_writer_is_what_the_cache_sweeps(tmp_path, monkeypatch):
    """A kill between open and rename leaves `.NAME.*.tmp`; data/cache.py removes `.*.tmp` on opening."""
    from emofusion.config import MediaConfig
    from emofusion.data.cache import ENTRIES, open_for_writing, write_entry

    root = open_for_writing(tmp_path / "c", MediaConfig(), ("audio",))
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    monkeypatch.setattr("pathlib.Path.unlink", lambda *a, **k: None)  # as if killed: no clean-up
    with pytest.raises(KeyboardInterrupt):
        write_entry(root, "clip", {"audio": np.zeros((2, 3), np.float32)})
    monkeypatch.undo()
    assert len(list((root / ENTRIES).glob(".*.tmp"))) == 1
    open_for_writing(root, MediaConfig(), ("audio",))
    assert list((root / ENTRIES).iterdir()) == []
