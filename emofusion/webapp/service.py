"""One guarded call from a clip path to a JSON-able result, shared by the UI, the API and `predict`.

Every failure becomes `{"ok": false, "error": {"code", "message"}}` with a sentence a user can act
on; unexpected exceptions are logged here with their traceback and never shown to the user.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emofusion.errors import ModelsNotFound
from emofusion.media.errors import ClipError
from emofusion.webapp.config import WebAppConfig

log = logging.getLogger("emofusion.webapp")

# Error codes added on top of ClipError's (unreadable, no_streams, too_short, too_long).
NO_FILE = "no_file"
TOO_LARGE = "too_large"
INTERNAL = "internal"


@dataclass
class Outcome:
    """The JSON payload plus the Analysis object (None on error) for the UI's pictures."""

    payload: dict[str, Any]
    analysis: Any = None

    @property
    def ok(self) -> bool:
        return bool(self.payload.get("ok"))


def error_payload(clip: str, code: str, message: str) -> dict[str, Any]:
    """The same keys as a successful payload (see emofusion/webapp/README.md), nothing answered."""
    return {
        "ok": False,
        "clip": clip,
        "input": None,
        "streams_present": {"voice": False, "face": False},
        "answer": None,
        "error": {"code": code, "message": message},
        "models": {},
        "skipped": {},
        "agree": None,
        "notices": [],
        "timings_ms": {},
        "windows": [],
    }


def check_models_dir(models_dir: Path, names: tuple[str, ...] | None = None) -> None:
    """Refuse early (ModelsNotFound, with the fix in the message) when the models are not there:
    before the slow imports. `names` None: at least one model of any name."""
    from emofusion.infer.sources import has_model

    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        raise ModelsNotFound(
            f"models directory {models_dir}/ does not exist. Run from the project root (it ships "
            f"models/), pass --models DIR, or train and convert models: emofusion train --help"
        )
    if names is None:
        if not any(d.is_dir() and has_model(d) for d in models_dir.iterdir()):
            raise ModelsNotFound(
                f"no trained model in {models_dir}/ (expected {models_dir}/<name>/model.safetensors + "
                f"config.json, or model.pt). Pass --models DIR or train them: emofusion train --help")
        return
    missing = [n for n in names if not has_model(models_dir / n)]
    if missing:
        raise ModelsNotFound(
            f"no trained model for {', '.join(missing)} in {models_dir}/ (expected "
            f"{models_dir}/<name>/model.safetensors + config.json, or model.pt). Pass --models DIR or "
            f"train them: emofusion train --help"
        )


def load_predictor(cfg: WebAppConfig):
    """`emofusion.load` on the configured models and backend. Raises EmofusionError subclasses
    (ModelsNotFound, ModelLoadError, CheckpointError) whose message says what to do."""
    check_models_dir(cfg.models_dir, cfg.names)
    import emofusion

    return emofusion.load(cfg.models_dir, names=cfg.names, backend=cfg.backend, device=cfg.device)


class AnalysisService:
    """Wraps a Predictor: size check, typed errors to payloads, server-side logging."""

    def __init__(self, predictor: Any, cfg: WebAppConfig):
        self.predictor = predictor
        self.cfg = cfg

    def warm_up(self, clip: str | os.PathLike) -> bool:
        """Analyse one clip before serving. The first analysis in a process pays one-off costs
        (codec set-up, librosa's JIT compile, the runtime's first run) that should not fall on the
        first user; a failure is logged, never raised (the server still starts)."""
        outcome = self.analyze(clip)
        if not outcome.ok:
            log.warning("warm-up on %s failed: %s", Path(clip).name, outcome.payload["error"]["message"])
        return outcome.ok

    def analyze(self, path: str | os.PathLike | None) -> Outcome:
        if not path:
            return Outcome(error_payload("", NO_FILE, "No clip was given: upload or record a video, or upload a photo."))
        clip = Path(path).name
        try:
            size = os.path.getsize(path)
        except OSError:
            return Outcome(error_payload(clip, NO_FILE, f"{clip}: the file could not be found."))
        if size > self.cfg.max_upload_bytes:
            return Outcome(error_payload(
                clip, TOO_LARGE,
                f"{clip} is {size / 2**20:.1f} MB; the limit is {self.cfg.max_upload_mb:g} MB. "
                "Trim or re-encode the clip and try again.",
            ))
        try:
            analysis = self.predictor.analyze(str(path))
        except ClipError as exc:
            return Outcome(error_payload(clip, exc.code, exc.message))
        except Exception:  # noqa: BLE001 - the server must keep serving; the log keeps the trace
            log.exception("analysis of %s failed", path)
            return Outcome(error_payload(
                clip, INTERNAL,
                "Something went wrong while analysing this clip. It has been logged on the "
                "server; please try another clip.",
            ))
        payload = dict(analysis.to_dict())
        error = payload.get("error")
        payload["clip"] = clip
        payload["ok"] = not error
        if not error:
            _note_partial_analysis(payload, analysis)
        return Outcome(payload, None if error else analysis)


def _note_partial_analysis(payload: dict[str, Any], analysis: Any) -> None:
    """A long clip analysed as one window must say which part was used (a clear limit)."""
    clip, cfg = getattr(analysis, "inputs", None), getattr(analysis, "media_config", None)
    if payload.get("windows") or clip is None or cfg is None:
        return
    duration, start = float(getattr(clip, "duration_s", 0.0)), float(getattr(clip, "window_start_s", 0.0))
    if duration > cfg.window_s + 0.5:
        payload["notices"] = list(payload.get("notices") or []) + [{
            "code": "window",
            "message": f"the clip is {duration:.1f} s long; the {cfg.window_s:g} s from "
                       f"{start:.1f} s to {start + cfg.window_s:.1f} s were analysed",
        }]
