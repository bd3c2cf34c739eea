"""A model card speaks only for the weights it was written for: export removes a card left behind
by other weights, and the predictor does not trust one (headline rule, web app)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _copy_model(tmp_path: Path, name: str = "audio") -> Path:
    d = tmp_path / name
    shutil.copytree(REPO / "models" / name, d)
    return d


def test_shipped_cards_name_their_weights():
    from emofusion.infer.sources import card_matches, read_card
    from emofusion.nets.checkpoint import model_sha256

    for d in sorted((REPO / "models").iterdir()):
        if (d / "card.json").is_file():
            assert card_matches(read_card(d / "card.json"), model_sha256(d)), d.name


def test_remove_stale_card_keeps_a_matching_card_and_removes_another_models(tmp_path):
    from emofusion.infer.sources import remove_stale_card

    d = _copy_model(tmp_path)
    assert remove_stale_card(d) == []
    assert (d / "card.json").is_file()
    card = json.loads((d / "card.json").read_text())
    card["sha256"] = "0" * 64
    (d / "card.json").write_text(json.dumps(card))
    removed = remove_stale_card(d)
    assert sorted(p.name for p in removed) == ["card.json", "card.md"]
    assert not (d / "card.json").exists() and (d / "model.safetensors").is_file()


def test_predictor_does_not_trust_a_stale_card(tmp_path):
    import emofusion

    d = _copy_model(tmp_path)
    card = json.loads((d / "card.json").read_text())
    card["sha256"] = "f" * 64
    (d / "card.json").write_text(json.dumps(card))
    with pytest.warns(UserWarning, match="describes other weights"):
        p = emofusion.load(tmp_path, backend="torch")
    m = p.models["audio"]
    assert m.card == {} and "not used" in m.card_problem


@pytest.mark.parametrize("name", ["face", "ia", "lt", "audio"])
def test_shipped_cards_are_what_the_one_card_writer_makes_of_their_card_json(name):
    """One writer (emofusion/export/card.py) renders every card.md from its card.json (and,
    for the face model, the results summary it quotes): the shipped markdown is exactly that."""
    from emofusion.export.card import face_markdown, plain_markdown, voice_markdown

    d = REPO / "models" / name
    card = json.loads((d / "card.json").read_text())
    if name == "face":
        from emofusion.train.face_pretrain import model_render

        md = face_markdown(card, model_render(card["train_meta"]).size,
                           (REPO / "results" / "face" / "face_pretrain.md").read_text())
    elif name == "audio":
        md = voice_markdown(card, json.loads((REPO / card["metrics"]["source"]).read_text()))
    else:
        md = plain_markdown(card)
    assert md == (d / "card.md").read_text()
