"""A Triton Inference Server model repository: IA and LT side by side, plus an ensemble.

Layout (Triton's): `<repo>/<model>/config.pbtxt` and `<repo>/<model>/1/model.onnx` (or
`model.plan` for `<model>_trt`). Configs are written as protobuf text by hand so exporting needs
no Triton package; the tests parse them with Triton's own schema (tritonclient's model_config_pb2).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from emofusion.constants import LOGITS
from emofusion.export.onnx import onnx_metadata

MAX_BATCH = 32
PREFERRED = (8, 16, 32)
QUEUE_DELAY_US = 2000


def _dims(shape) -> str:
    return "[ " + ", ".join(str(int(d)) for d in shape) + " ]"


def _io_block(kind: str, items: list[tuple[str, tuple[int, ...]]]) -> str:
    parts = [f'  {{\n    name: "{n}"\n    data_type: TYPE_FP32\n    dims: {_dims(s)}\n  }}' for n, s in items]
    return f"{kind} [\n" + ",\n".join(parts) + "\n]\n"


def _param(key: str, value: str) -> str:
    return f'parameters {{\n  key: "{key}"\n  value {{ string_value: {json.dumps(value)} }}\n}}\n'


def model_config(name: str, inputs: dict[str, tuple[int, ...]], n_classes: int, classes: str,
                 kind: str = "onnx") -> str:
    """config.pbtxt text for one model; `kind` is "onnx" (ONNX Runtime backend) or "plan" (TensorRT)."""
    head = (f'name: "{name}"\n' + ('backend: "onnxruntime"\n' if kind == "onnx" else 'platform: "tensorrt_plan"\n')
            + f"max_batch_size: {MAX_BATCH}\n")
    body = _io_block("input", list(inputs.items())) + _io_block("output", [(LOGITS, (n_classes,))])
    batching = ("dynamic_batching {\n  preferred_batch_size: " + _dims(PREFERRED)
                + f"\n  max_queue_delay_microseconds: {QUEUE_DELAY_US}\n}}\n")
    group = ("instance_group [\n  {\n    count: 1\n    kind: "
             + ("KIND_GPU" if kind == "plan" else "KIND_AUTO") + "\n  }\n]\n")
    return head + body + batching + group + _param("classes", classes)


def ensemble_config(name: str, members: list[str], inputs: dict[str, tuple[int, ...]], n_classes: int) -> str:
    """One request in, every member's logits out (`<member>_logits`): both fusions side by side."""
    steps = []
    for m in members:
        maps = "".join(f'      input_map {{\n        key: "{k}"\n        value: "{k}"\n      }}\n' for k in inputs)
        steps.append(f'    {{\n      model_name: "{m}"\n      model_version: -1\n{maps}'
                     f'      output_map {{\n        key: "{LOGITS}"\n        value: "{m}_{LOGITS}"\n      }}\n    }}')
    outs = [(f"{m}_{LOGITS}", (n_classes,)) for m in members]
    return (f'name: "{name}"\nplatform: "ensemble"\nmax_batch_size: {MAX_BATCH}\n'
            + _io_block("input", list(inputs.items())) + _io_block("output", outs)
            + "ensemble_scheduling {\n  step [\n" + ",\n".join(steps) + "\n  ]\n}\n")


def _graph_inputs(onnx_path: Path) -> dict[str, tuple[int, ...]]:
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    return {i.name: tuple(d.dim_value for d in i.type.tensor_type.shape.dim[1:]) for i in graph.input}


def write_repository(models: dict[str, Path], out: str | Path, engines: dict[str, Path] | None = None,
                     ensemble: str | None = "emofusion") -> list[Path]:
    """`models`: name -> ONNX file. Returns the config files written. The ensemble joins the
    models that share the same inputs (all fusions do)."""
    out = Path(out)
    written = []
    shapes: dict[str, dict[str, tuple[int, ...]]] = {}
    n_classes = 0
    for name, onnx_path in models.items():
        meta = onnx_metadata(onnx_path)
        classes = meta.get("classes", "")
        n_classes = len(classes.split(",")) if classes else 8
        shapes[name] = _graph_inputs(Path(onnx_path))
        d = out / name
        (d / "1").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(onnx_path, d / "1" / "model.onnx")
        (d / "config.pbtxt").write_text(model_config(name, shapes[name], n_classes, classes, "onnx"))
        written.append(d / "config.pbtxt")
        if engines and name in engines:
            t = out / f"{name}_trt"
            (t / "1").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(engines[name], t / "1" / "model.plan")
            (t / "config.pbtxt").write_text(model_config(f"{name}_trt", shapes[name], n_classes, classes, "plan"))
            written.append(t / "config.pbtxt")
    fusions = [n for n in models if len(shapes[n]) == 2]
    if ensemble and len(fusions) >= 2 and all(shapes[n] == shapes[fusions[0]] for n in fusions):
        d = out / ensemble
        (d / "1").mkdir(parents=True, exist_ok=True)  # Triton wants a version dir, even empty
        (d / "config.pbtxt").write_text(ensemble_config(ensemble, fusions, shapes[fusions[0]], n_classes))
        written.append(d / "config.pbtxt")
    return written
