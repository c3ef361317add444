"""`beam_prep preview`: the first examples of a run as the model sees them, without Beam.

Reads the first records of --input (core.readers, core.normalize), explodes and fits them with a
Fitter built here exactly as the pipeline's workers build it, and prints each example token-exact:
BOS/EOS and every special token written out, the trained spans marked (green on a terminal,
otherwise between ⟦ and ⟧), and its token counts. Rejected dialogues are listed with their reason.

    python -m beam_prep preview --input data/*.jsonl --template chatml --tokenizer path/to/tok
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterator
from typing import TextIO

from beam_prep.checks import input_files, run_template
from beam_prep.config import ConfigError, RunConfig
from beam_prep.core.explode import explode
from beam_prep.core.fit import IGNORE_INDEX, Fitter
from beam_prep.core.loading import TOKENIZER_FILES
from beam_prep.core.normalize import normalize
from beam_prep.core.readers import file_kind, iter_records
from beam_prep.core.records import TOOL, Example, Reject
from beam_prep.core.screen import special_token_reject
from beam_prep.core.templates import TemplateError
from beam_prep.core.tokenizer import TextEncoder, TokenizerError
from beam_prep.io.cache import localize_dir
from beam_prep.io.fs import url_to_fs
from beam_prep.io.globs import common_root, relative_source

OPEN, CLOSE = "⟦", "⟧"  # around trained text when not on a terminal
_GREEN, _SPECIAL, _RESET = "\x1b[32m", "\x1b[1;35m", "\x1b[0m"
MAX_REJECTS_SHOWN = 10


def preview(config: RunConfig, n_examples: int = 3, out: TextIO | None = None, color: bool | None = None) -> int:
    """Print the first `n_examples` examples; 0 when at least one was shown, else 1."""
    out = out or sys.stdout
    color = out.isatty() if color is None else color
    fitter = load_fitter(config)
    marks = "trained spans in green" if color else f"trained spans between {OPEN} and {CLOSE}"
    print(
        f"template {fitter.template.spec.name} · mode {config.mode} · max_seq_length {config.max_seq_length}"
        f" · tokenizer {config.tokenizer}\n{marks}; special tokens as they are written",
        file=out,
    )
    eot = fitter.template.end_of_turn
    if eot and eot not in fitter.encoder.special_ids:
        print(f"warning: end of turn {eot!r} is not a special token of this tokenizer: plain text", file=out)
    shown = rejected = 0
    for item in fitted(config, fitter):
        if isinstance(item, Reject):
            rejected += 1
            if rejected <= MAX_REJECTS_SHOWN:
                where = f"{item.source}:{item.line}" + (f" ({item.dialogue_id})" if item.dialogue_id else "")
                print(f"\nrejected {where}: {item.reason} {item.detail}".rstrip(), file=out)
            continue
        shown += 1
        print(f"\n{header(item, shown, config.max_seq_length)}\n{render_example(fitter, item, color)}", file=out)
        if shown >= n_examples:
            break
    if not shown:
        print("\nno example: every dialogue read was rejected or had nothing to train", file=out)
    return 0 if shown else 1


def load_fitter(config: RunConfig) -> Fitter:
    """The run's Fitter; configuration mistakes as ConfigError (exit code 2)."""
    dataclasses.replace(config, output=config.output or "-").validate()  # preview writes nothing
    spec = run_template(config)
    try:
        encoder = TextEncoder(localize_dir(config.tokenizer, TOKENIZER_FILES))
        return config.fitter_spec(spec).build(encoder)
    except TemplateError as exc:
        raise ConfigError(f"--template: {exc}") from None
    except TokenizerError as exc:
        raise ConfigError(f"--tokenizer: {exc}") from None


def fitted(config: RunConfig, fitter: Fitter) -> Iterator[Example | Reject]:
    """Examples and rejects of the inputs, in file and line order, fitted one dialogue at a time."""
    files = input_files(config)
    kinds = [file_kind(url) for url in files]
    root = common_root(files)
    policy = config.policy()
    screen = config.special_tokens_in_content == "reject"
    for url, (kind, gz) in zip(files, kinds):
        fs, path = url_to_fs(url)
        with fs.open(path, "rb") as f:
            for record in iter_records(relative_source(url, root), kind, gz, f):
                dialogue, _, reject = normalize(record, config.input_format, policy)
                if reject is not None:
                    yield reject
                    continue
                if screen and (special := special_token_reject(fitter.encoder, dialogue)):
                    yield special
                    continue
                yield from fitter.fit([(dialogue, explode(dialogue, config.mode))], config.mode)


def header(ex: Example, number: int, max_seq_length: int) -> str:
    trained = sum(label != IGNORE_INDEX for label in ex.labels)
    line = (
        f"── example {number}: {ex.id} · num_tokens {len(ex.input_ids)}/{max_seq_length} · trained {trained}"
        f" · context_turns {ex.context_turns} · dropped_turns {ex.dropped_turns}"
    )
    return line + (f"\n{tool_summary(ex)}" if ex.dialogue.structured else "")


def tool_summary(ex: Example) -> str:
    """The tools, calls, results and reasoning of a structured example's window, and what is trained."""
    d = ex.dialogue
    window = d.turns[ex.start : ex.end + 1]
    tools = [t.get("function", t).get("name", "?") for t in json.loads(d.tools)] if d.tools else []
    calls = [f"{c.name}({c.arguments})" for t in window for c in t.tool_calls]
    results = sum(t.role == TOOL for t in window)
    targets = ", ".join(
        f"{t} ({'tool call' if d.turns[t].tool_calls else 'answer'}{' + reasoning' if d.turns[t].reasoning else ''})"
        for t in ex.trained
    )
    return (
        f"   tools {', '.join(tools) or 'none'} · calls {'; '.join(calls) or 'none'} · tool results {results}"
        f" · trained turns {targets}"
    )


def render_example(fitter: Fitter, ex: Example, color: bool = False) -> str:
    """The example's tokens as text, BOS/EOS included, trained runs marked."""
    out, trained_before = [], False
    for piece, trained, special in token_pieces(fitter, ex):
        if not color:
            if trained != trained_before:
                out.append(OPEN if trained else CLOSE)
            out.append(piece)
        else:
            style = (_GREEN if trained else "") + (_SPECIAL if special else "")
            out.append(f"{style}{piece}{_RESET}" if style else piece)
        trained_before = trained
    if trained_before and not color:
        out.append(CLOSE)
    return "".join(out)


def token_pieces(fitter: Fitter, ex: Example) -> list[tuple[str, bool, bool]]:
    """(text, trained, is_control_token) per token of ex.input_ids, from the units of its window
    (so a special-token string kept inside content shows as the plain text it was encoded as)."""
    enc = fitter.encoder
    if ex.dialogue.structured:
        return _structured_pieces(fitter, ex)
    units = fitter.layout.units(ex.dialogue, ex.start, ex.end)
    plain = iter(enc.encode_units([(u.text, u.starts_piece) for u in units if not u.special]))
    pieces = [(enc.hf.convert_ids_to_tokens(i), True) for i in enc.prefix_ids]
    for u in units:
        if u.special:
            pieces.append((u.text, True))
            continue
        start = 0
        for end in next(plain).ends:
            pieces.append((u.text[start:end], False))
            start = end
    pieces += [(enc.hf.convert_ids_to_tokens(i), True) for i in enc.suffix_ids]
    if len(pieces) != len(ex.labels):  # cannot happen for a fitted example; never mislabel
        raise ValueError(f"example {ex.id}: {len(pieces)} token pieces for {len(ex.labels)} labels")
    return [(text, label != IGNORE_INDEX, special) for (text, special), label in zip(pieces, ex.labels)]


def _structured_pieces(fitter: Fitter, ex: Example) -> list[tuple[str, bool, bool]]:
    """Token pieces of a window rendered whole (core/structured.py), from the tokenizer's offsets."""
    enc = fitter.encoder
    text, _ = fitter.structured.text(ex.dialogue, ex.start, ex.end, ex.trained)
    encoding = enc.backend.encode(text, add_special_tokens=True)
    specials, pieces, pos = set(enc.special_ids.values()), [], 0
    for i, (_, end), label in zip(encoding.ids, encoding.offsets, ex.labels):
        if end == 0:  # added by the tokenizer around the text (BOS/EOS): no offsets
            pieces.append((enc.hf.convert_ids_to_tokens(i), label != IGNORE_INDEX, True))
            continue
        pieces.append((text[pos:end], label != IGNORE_INDEX, i in specials))
        pos = max(pos, end)
    return pieces
