"""A model's card on the page: gr.Label, whose heading can be other than the top class.

render.card_value gives {"heading", "probs"} for a model too close to call, so the card reads
"uncertain (leans to happy)" over its bars instead of a bold "happy". A module of its own because
Gradio writes a typing stub (`model_card.pyi`, committed) beside the module of every component
class; importing this module needs gradio (the app imports it lazily).
"""

from __future__ import annotations

import gradio as gr


class ModelCard(gr.Label):
    is_template = True  # the browser draws it with Label's own component

    def postprocess(self, value):
        if isinstance(value, dict) and "heading" in value:
            data = super().postprocess(value["probs"])
            data.label = value["heading"]
            return data
        return super().postprocess(value)
