"""Build a Fitter without Beam (preview, tests), the way a pipeline worker builds it.

The `tokenizer` template is an empty templates/tokenizer.jinja: its source is the tokenizer's own
chat_template (tokenizer_config.json, or chat_template.jinja beside it), exactly what transformers'
`apply_chat_template` would render.

    encoder = TextEncoder("path/to/tokenizer")
    fitter = build_fitter(load_template("tokenizer"), encoder, max_seq_length=2048)
"""

from __future__ import annotations

from dataclasses import replace

from beam_prep.core.fit import Fitter
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


def build_fitter(
    spec: TemplateSpec,
    encoder: TextEncoder,
    max_seq_length: int,
    system_prompt: str | None = None,
    special_tokens_in_content: str = "reject",
    reasoning: str = "train",
) -> Fitter:
    """A Fitter for one template and tokenizer, as pipeline/worker.py FitterSpec.build makes it."""
    compiled = CompiledTemplate(resolve_template(spec, encoder.chat_template), encoder.bos_token, encoder.eos_token)
    if spec.end_of_turn == "auto":
        compiled.end_of_turn = compiled.detect_end_of_turn(encoder.special_tokens)
    fitter = Fitter(compiled, encoder, max_seq_length, system_prompt, special_tokens_in_content, reasoning)
    if spec.name == TOKENIZER_TEMPLATE and not spec.source.strip() and encoder.tool_chat_template:
        # A `tool_use` named template (Hermes, Command-R): apply_chat_template renders with it when
        # tools are given, so dialogues with tools are rendered with it too.
        tools = CompiledTemplate(replace(spec, source=encoder.tool_chat_template), encoder.bos_token, encoder.eos_token)
        tools.end_of_turn = compiled.end_of_turn
        fitter.tool_template = tools
    return fitter
