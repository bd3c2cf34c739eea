"""Knowledge distillation (`train --teacher RUN --distill-weight W`): loss, leak check, a real run."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from audio_files import write_pcm

from emofusion import cli
from emofusion.train.distill import distill_loss

SR = 22_050


def test_distill_loss_is_zero_at_the_teacher_and_pulls_towards_it():
    torch.manual_seed(0)
    teacher_logits = torch.randn(6, 8)
    soft = torch.softmax(teacher_logits / 2.0, dim=1)
    assert float(distill_loss(teacher_logits, soft, 2.0)) == pytest.approx(0.0, abs=1e-6)
    student = torch.zeros(6, 8, requires_grad=True)
    opt = torch.optim.SGD([student], lr=1.0)
    before = float(distill_loss(student.detach(), soft, 2.0))
    for _ in range(300):
        opt.zero_grad()
        distill_loss(student, soft, 2.0).backward()
        opt.step()
    after = float(distill_loss(student.detach(), soft, 2.0))
    assert before > 0.05 and after < before / 10
    # the student learns the teacher's ranking, not just its top class
    assert (student.detach().argsort(1) == teacher_logits.argsort(1)).float().mean() > 0.9


def _tree(root: Path) -> Path:
    data = root / "data"
    t = np.arange(int(1.5 * SR)) / SR
    for actor in (1, 2, 3):
        for emo in range(1, 9):
            wave = 0.5 * np.sin(2 * np.pi * (150.0 + 60 * emo) * t)
            write_pcm(data / f"Actor_{actor:02d}/03-01-{emo:02d}-01-01-01-{actor:02d}.wav", wave, SR)
    return data


def test_student_learns_from_a_teacher_run_and_leaks_are_refused(tmp_path, capsys):
    data = _tree(tmp_path)
    cache = tmp_path / "c"
    assert cli.main(["preprocess", str(data), "--out", str(cache), "--modalities", "audio", "--workers", "1",
                     "--window-s", "1.0"]) == 0
    base = ["train", "--cache", str(cache), "--fusion", "audio", "--epochs", "2", "--quiet"]
    teacher = tmp_path / "teacher"
    assert cli.main([*base, "--test-actors", "3", "--val-actors", "2", "--out", str(teacher)]) == 0
    student = tmp_path / "student"
    assert cli.main([*base, "--test-actors", "3", "--val-actors", "2", "--teacher", str(teacher),
                     "--distill-weight", "0.7", "--distill-temperature", "3", "--out", str(student)]) == 0
    cfg = json.loads((student / "train_config.json").read_text())
    assert cfg["teachers"] == [str(teacher.resolve())] and cfg["distill_weight"] == 0.7
    meta = torch.load(student / "fold_1" / "best.pt", weights_only=False)["meta"]
    assert meta["teachers"][0]["run"] == str(teacher.resolve()) and len(meta["teachers"][0]["sha256"]) == 64
    assert (student / "fold_1" / "metrics.jsonl").read_text().count("\n") == 2
    capsys.readouterr()

    # a teacher that trained on the student's test actor is refused with a message, no traceback
    assert cli.main([*base, "--test-actors", "2", "--val-actors", "1", "--teacher", str(teacher),
                     "--distill-weight", "0.5", "--out", str(tmp_path / "leaky")]) == 2
    assert "trained on test actors [2]" in capsys.readouterr().err
    # teachers and a weight go together; a missing run is named
    assert cli.main([*base, "--test-actors", "3", "--teacher", str(teacher), "--out", str(tmp_path / "x")]) == 2
    assert "go together" in capsys.readouterr().err
    assert cli.main([*base, "--test-actors", "3", "--teacher", str(tmp_path / "nope"), "--distill-weight", "0.5",
                     "--out", str(tmp_path / "y")]) == 2
    assert "no such run directory" in capsys.readouterr().err
