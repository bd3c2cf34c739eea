"""Product-surface layering: export/ never imports infer/ (infer runs what export makes), and library
code in infer/, export/ and webapp/ never raises the CLI's error (it raises emofusion.errors classes;
only emofusion.cli prints them). The graph is test_package's: every import, module- or
function-level."""

from __future__ import annotations

from test_package import PACKAGE, import_graph


def test_export_never_imports_infer():
    graph = import_graph(PACKAGE)
    offenders = {m: sorted(d for d in deps if d.startswith("emofusion.infer"))
                 for m, deps in graph.items() if m.startswith("emofusion.export")}
    assert not {m: d for m, d in offenders.items() if d}, offenders
    assert "emofusion.export.onnx" in graph["emofusion.infer.backends"]  # the one direction, seen


def test_infer_export_webapp_do_not_import_the_cli():
    graph = import_graph(PACKAGE)
    offenders = sorted(m for m, deps in graph.items()
                       if m.startswith(("emofusion.infer", "emofusion.export", "emofusion.webapp"))
                       and "emofusion.cli" in deps)
    assert not offenders, offenders


def test_library_errors_print_as_one_line(tmp_path, capsys):
    from emofusion import cli

    assert cli.main(["predict", str(tmp_path / "clip.mp4"), "--models", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("emofusion predict: error: models directory") and "Traceback" not in err
    assert cli.main(["export", str(tmp_path / "nothing.pt"), "--to", "safetensors"]) == 2
    assert "no checkpoint at" in capsys.readouterr().err
