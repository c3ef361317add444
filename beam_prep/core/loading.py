"""Build a Fitter: the one way it is made, by pipeline workers (pipeline/worker.py), preview, the
template probe (checks.py) and tests.

The `tokenizer` template is an empty templates/tokenizer.jinja: its source is the tokenizer's own
chat_template (tokenizer_config.json, or chat_template.jinja beside it), exactly what transformers'
`apply_chat_template` would render.

    encoder = TextEncoder("path/to/tokenizer")
    fitter = FitterSpec(load_template("tokenizer"), max_seq_length=2048).build(encoder)
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from beam_prep.core.fit import Fitter
from beam_prep.core.layout import WindowLayout
from beam_prep.core.structured import StructuredFitter
from beam_prep.core.templates import CompiledTemplate, TemplateError, TemplateSpec
from beam_prep.core.tokenizer import TextEncoder

TOKENIZER_TEMPLATE = "tokenizer"
# What a tokenizer folder may hold that we read (pipeline/worker.py fetches the same for remote URLs).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja")


def resolve_template(spec: TemplateSpec, chat_template: str | None, tokenizer: str = "the tokenizer") -> TemplateSpec:
    """`spec` itself, or for the empty `tokenizer` template the tokenizer's chat_template."""
    if spec.name != TOKENIZER_TEMPLATE or spec.source.strip():
        return spec
    if not chat_template:
        raise TemplateError(f"template 'tokenizer': {tokenizer} has no chat_template in tokenizer_config.json")
    return replace(spec, source=chat_template)


@dataclass(frozen=True)
class FitterSpec:
    """What a Fitter is made of besides the tokenizer: small, picklable, compared by value."""

    template: TemplateSpec
    max_seq_length: int
    system_prompt: str | None = None  # None: the template's default_system_prompt
    reasoning: str = "train"  # structured dialogues: train a target's reasoning, or drop it

    def build(self, encoder: TextEncoder) -> Fitter:
        spec = self.template
        compiled = CompiledTemplate(resolve_template(spec, encoder.chat_template), encoder.bos_token, encoder.eos_token)
        if spec.end_of_turn == "auto":
            compiled.end_of_turn = compiled.detect_end_of_turn(encoder.special_tokens)
        tools = None
        if spec.name == TOKENIZER_TEMPLATE and not spec.source.strip() and encoder.tool_chat_template:
            # A `tool_use` named template (Hermes, Command-R): apply_chat_template renders with it when
            # tools are given, so dialogues with tools are rendered with it too.
            tools = CompiledTemplate(
                replace(spec, source=encoder.tool_chat_template), encoder.bos_token, encoder.eos_token
            )
            tools.end_of_turn = compiled.end_of_turn
        prompt = self.system_prompt if self.system_prompt is not None else spec.default_system_prompt
        # Stripped like every message content (normalize.py), and an empty prompt is no prompt.
        prompt = (prompt.strip() or None) if prompt is not None else None
        structured = StructuredFitter(compiled, encoder, self.max_seq_length, prompt, self.reasoning, tools)
        return Fitter(WindowLayout(compiled, encoder, prompt), structured, self.max_seq_length)
