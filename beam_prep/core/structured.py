"""Dialogues with tools, tool calls, tool results or reasoning: every window rendered by the real
template, as transformers' `apply_chat_template(messages, tools=...)` renders it, and truncated by
whole exchanges.

Why not the skeleton fast path (layout.py): a template renders a tool call from its name and
parsed arguments (`tool_call.arguments | tojson`), writes the tools header from the schemas, and may
render a turn differently by position (Qwen3 drops reasoning from assistant turns before the last
user query) or look inside a content (`'</think>' in content`). None of this fits a skeleton with
sentinel contents, so these dialogues take the exact path: each candidate window is rendered and
encoded whole (`tokenizer(text)`), which makes `input_ids == encode_text(text)` hold by construction.
Plain dialogues keep the fast path.

Labels: an assistant message k is trained from the end of the generation prompt before it to the end
of its own render (trailing whitespace excluded): `render(messages[:k], add_generation_prompt=True)`
and `render(messages[:k+1])`, checked to be prefixes of the window's text. When they are not (a
position-dependent template, in whole_dialog, for a turn in the history) the turn is located in the
text by its assistant header and the end-of-turn marker after it. Token labels follow from the
tokenizer's offsets. Tool results, the tools header, the system prompt and weight-0 turns are never
inside a span.

Exchanges: a window starts at a user turn, so it never begins with a tool result and never cuts a
call from its results; the system prompt and the tools header are rendered in every window.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import cached_property

from beam_prep.core.messages import Support, hf_message, probe
from beam_prep.core.records import ASSISTANT, SYSTEM, THINK_END, TOOL, USER, Dialogue, Example, Reject
from beam_prep.core.templates import CompiledTemplate, TemplateError
from beam_prep.core.tokenizer import TextEncoder

IGNORE_INDEX = -100
REASONING_POLICIES = ("train", "drop")  # --reasoning: train a target's reasoning as rendered, or drop it


@dataclass(frozen=True, slots=True)
class Window:
    text: str
    ids: array  # array('i'), as the plain path's (layout.py)
    labels: array


class StructuredFitter:
    """Fits and renders the examples of structured dialogues; built once per worker with the Fitter."""

    def __init__(
        self,
        template: CompiledTemplate,
        encoder: TextEncoder,
        max_seq_length: int,
        system_prompt,
        reasoning,
        tool_template=None,
    ):
        if reasoning not in REASONING_POLICIES:
            raise ValueError(f"reasoning policy {reasoning!r} is not one of: {', '.join(REASONING_POLICIES)}")
        self.template, self.encoder = template, encoder
        self.tool_template = tool_template or template  # what renders a dialogue that has `tools`
        self.max_seq_length, self.system_prompt, self.reasoning = max_seq_length, system_prompt, reasoning

    @cached_property
    def support(self) -> Support:
        return probe(self.template)

    @cached_property
    def tool_support(self) -> Support:
        return probe(self.tool_template) if self.tool_template is not self.template else self.support

    def unsupported(self, dialogue: Dialogue) -> str:
        """Why the template cannot render this dialogue without losing part of it ("" if it can)."""
        name = self.template.spec.name
        support = self.tool_support if dialogue.tools else self.support
        if (dialogue.tools or any(t.tool_calls or t.role == TOOL for t in dialogue.turns)) and not support.tools:
            return f"template {name!r} has no tool format (it would drop the tools, tool calls or results)"
        if self.reasoning == "train" and any(t.reasoning for t in dialogue.turns) and not support.reasoning:
            return f"template {name!r} does not render reasoning_content (--reasoning drop leaves it out)"
        return ""

    # -- fitting -------------------------------------------------------------------------------
    def fit(self, dialogue: Dialogue, examples: list[Example], whole: bool) -> Iterator[Example | Reject]:
        """The examples of one dialogue (`whole`: its one whole_dialog example), all or nothing."""
        if not examples:
            return
        if why := self.unsupported(dialogue):
            yield _reject(dialogue, "unsupported_by_template", why)
            return
        try:  # all or nothing: a template that refuses one window rejects the whole dialogue
            if whole:
                out = list(self._fit_whole(dialogue, examples[0], {}))
            else:
                out = list(self._fit_responses(dialogue, examples, {}))
        except TemplateError as exc:  # the template refused the dialogue (raise_exception)
            out = [_reject(dialogue, "unsupported_by_template", str(exc)[:300])]
        yield from out

    def _fit_responses(self, dialogue, examples, cache) -> Iterator[Example | Reject]:
        first = examples[0].start
        starts = exchange_starts(dialogue, first)
        s = 0
        for ex in examples:
            own = max(i for i, start in enumerate(starts) if start <= ex.end)
            while s < own and self._count(dialogue, starts[s], ex.end, ex.trained, cache) > self.max_seq_length:
                s += 1  # drop the oldest whole exchange
            if self._count(dialogue, starts[s], ex.end, ex.trained, cache) > self.max_seq_length:
                detail = (
                    f"turn {ex.end} does not fit {self.max_seq_length} tokens with its exchange (turns {starts[own]}..)"
                )
                yield _reject(dialogue, "too_long", detail)
                continue
            window = self.window(dialogue, starts[s], ex.end, ex.trained, cache)
            yield replace(
                ex, start=starts[s], dropped_turns=starts[s] - first, input_ids=window.ids, labels=window.labels
            )

    def _fit_whole(self, dialogue, whole: Example, cache) -> Iterator[Example | Reject]:
        """The whole dialogue if it fits, else consecutive windows of whole exchanges that each fit."""
        budget = self.max_seq_length
        if self._count(dialogue, whole.start, whole.end, whole.trained, cache) <= budget:
            window = self.window(dialogue, whole.start, whole.end, whole.trained, cache)
            yield replace(whole, input_ids=window.ids, labels=window.labels)
            return
        exchanges = exchange_ends(dialogue, whole.start, whole.end)
        i = 0
        while i < len(exchanges):
            start, fitting = exchanges[i][0], None
            for j in range(i, len(exchanges)):
                end = exchanges[j][1]
                trained = tuple(t for t in whole.trained if start <= t <= (end or -1))
                if end is not None and self._count(dialogue, start, end, trained, cache) > budget:
                    break
                fitting = (j, end) if end is not None else fitting
            if fitting is None:
                if exchanges[i][1] is not None:
                    yield _reject(
                        dialogue, "too_long", f"turns {start}..{exchanges[i][1]} alone exceed {budget} tokens"
                    )
                i += 1
                continue
            j, end = fitting
            trained = tuple(t for t in whole.trained if start <= t <= end)
            if trained:
                window = self.window(dialogue, start, end, trained, cache)
                yield Example(dialogue, start, end, end, trained, 0, window.ids, window.labels)
            i = j + 1

    # -- rendering -----------------------------------------------------------------------------
    def messages(self, dialogue: Dialogue, start: int, end: int, trained: tuple[int, ...] = ()) -> list[dict]:
        """The window's messages as a chat template receives them: system prompt, then the turns."""
        turns = dialogue.turns
        system = turns[0].content if dialogue.has_system else self.system_prompt
        head = [{"role": SYSTEM, "content": system}] if system is not None else []
        drop = self.reasoning == "drop"
        body = [hf_message(turns[i], drop and i in trained) for i in range(start, end + 1)]
        template = self.tool_template if dialogue.tools else self.template
        if template.spec.tool_results == "json":
            body = [{**m, "content": json_content(m["content"])} if m["role"] == TOOL else m for m in body]
        return head + body

    def tools(self, dialogue: Dialogue) -> list | None:
        return json.loads(dialogue.tools) if dialogue.tools else None

    def _render(self, messages: list[dict], tools, generation: bool = False) -> str:
        """The template's text without a BOS the tokenizer adds itself (never doubled)."""
        template = self.template if tools is None else self.tool_template
        text = template.render(messages, tools, generation)
        enc = self.encoder
        if enc.prefix_ids and enc.bos_token and text.startswith(enc.bos_token):
            text = text[len(enc.bos_token) :]
        return text

    def _text(self, dialogue, start, end, trained) -> tuple[str, list[dict], list | None]:
        messages, tools = self.messages(dialogue, start, end, trained), self.tools(dialogue)
        text = self._render(messages, tools)
        enc = self.encoder
        if enc.suffix_ids and enc.eos_token and text.endswith(enc.eos_token):
            text = text[: -len(enc.eos_token)]
        eot, kept = self.template.end_of_turn, text.rstrip()
        if eot and kept.endswith(eot):  # the row ends with the last trained token, as on the fast path:
            text = kept  # not Qwen's "\n" after the last <|im_end|> (TRL would train it and add an EOS)
        return text, messages, tools

    def _count(self, dialogue, start: int, end: int, trained: tuple[int, ...], cache: dict) -> int:
        key = (start, end, trained if self.reasoning == "drop" else ())  # dropping reasoning changes the text
        if key not in cache:
            text, messages, tools = self._text(dialogue, start, end, trained)
            encoding = self.encoder.backend.encode(text, add_special_tokens=True)
            cache[key] = len(encoding.ids)
            cache["last"] = (key, (text, messages, tools), encoding)  # the window chosen is the last counted
        return cache[key]

    def text(self, dialogue: Dialogue, start: int, end: int, trained: tuple[int, ...], rendered=None):
        """(text, [(start, end) of each trained turn in it]) of the window."""
        text, messages, tools = rendered or self._text(dialogue, start, end, trained)
        head = len(messages) - (end - start + 1)
        return text, [self._span(messages, tools, head + t - start, text) for t in trained if start <= t <= end]

    def window(self, dialogue: Dialogue, start: int, end: int, trained: tuple[int, ...], cache=None) -> Window:
        """The window's text, its ids as `tokenizer(text)` gives them, and labels on the trained turns."""
        key = (start, end, trained if self.reasoning == "drop" else ())
        last = (cache or {}).get("last")
        rendered, enc = last[1:] if last and last[0] == key else (None, None)
        text, spans = self.text(dialogue, start, end, trained, rendered)
        enc = enc or self.encoder.backend.encode(text, add_special_tokens=True)
        ids = enc.ids
        labels = [
            i if e > s and any(s < b and e > a for a, b in spans) else IGNORE_INDEX
            for i, (s, e) in zip(ids, enc.offsets)
        ]
        return Window(text, array("i", ids), array("i", labels))

    def _span(self, messages: list[dict], tools, k: int, text: str) -> tuple[int, int]:
        """(start, end) in text of assistant message k as trained: after its header, through its end."""
        prompt = self._render(messages[:k], tools, generation=True)
        upto = self._render(messages[: k + 1], tools)
        if upto.startswith(prompt) and text.startswith(upto.rstrip()):
            return len(prompt), min(len(upto.rstrip()), len(text))
        return self._locate(messages, tools, k, text, prompt)

    def _locate(self, messages, tools, k: int, text: str, prompt: str) -> tuple[int, int]:
        """A history turn of a position-dependent template: its assistant header's occurrence, and the
        end-of-turn marker after it."""
        before = self._render(messages[:k], tools)
        header = prompt[len(before) :]
        if not header:
            return _locate_piece(before, self._render(messages[: k + 1], tools), text, self.template.spec.name, k)
        eot = self.template.end_of_turn
        ordinal = sum(m["role"] == ASSISTANT for m in messages[:k])
        at = -1
        for _ in range(ordinal + 1):
            at = text.find(header, at + 1) if header else -1
            if at < 0:
                break
        stop = text.find(eot, at + len(header)) if at >= 0 and eot else -1
        if stop < 0 or text.count(header) != sum(m["role"] == ASSISTANT for m in messages):
            raise TemplateError(
                f"template {self.template.spec.name!r}: cannot locate assistant message {k} in its render"
            )
        return at + len(header), stop + len(eot)


def _locate_piece(before: str, upto: str, text: str, name: str, k: int) -> tuple[int, int]:
    """A history turn of a template with no assistant header, whose tools header or system prompt
    goes before the last user message (Mistral v3): the turn's own render (what rendering it adds,
    `upto` minus `before`), at the occurrence whose ordinal is the number of copies before it."""
    piece = upto[len(before) :].rstrip() if upto.startswith(before) else ""
    at, ordinal = -1, before.count(piece) if piece else 0
    for _ in range(ordinal + 1):
        at = text.find(piece, at + 1) if piece else -1
        if at < 0:
            raise TemplateError(f"template {name!r}: cannot locate assistant message {k} in its render")
    return at, at + len(piece)


def json_content(content: str):
    """A tool result as mistral-common's normaliser and encoder read it: the parsed JSON value when
    the text is JSON (json.loads), {} when it is empty, else the text itself."""
    if not content:
        return {}
    try:
        return json.loads(content)
    except ValueError:
        return content


def target_counts(ex: Example, reasoning: str = "train") -> tuple[int, int]:
    """(targets that call tools, targets whose reasoning is trained) of an example, for the card."""
    turns = [ex.dialogue.turns[t] for t in ex.trained]
    calls = sum(bool(t.tool_calls) for t in turns)
    reasoned = sum(t.reasoning is not None or THINK_END in t.content for t in turns) if reasoning == "train" else 0
    return calls, reasoned


def exchange_starts(dialogue: Dialogue, first: int) -> list[int]:
    """The user turns from `first` on: where an exchange (a user turn and all it leads to) begins."""
    return [i for i in range(first, len(dialogue.turns)) if dialogue.turns[i].role == USER]


def exchange_ends(dialogue: Dialogue, first: int, last: int) -> list[tuple[int, int | None]]:
    """(start, last assistant turn) of each exchange within turns[first..last]; None: it has none."""
    starts = exchange_starts(dialogue, first)
    out = []
    for n, s in enumerate(starts):
        stop = min(starts[n + 1] - 1 if n + 1 < len(starts) else last, last)
        assistants = [i for i in range(s, stop + 1) if dialogue.turns[i].role == ASSISTANT]
        out.append((s, assistants[-1] if assistants else None))
    return [x for x in out if x[0] <= last]


def _reject(dialogue: Dialogue, reason: str, detail: str) -> Reject:
    return Reject(reason, dialogue.source, dialogue.line, "", detail, dialogue.id)
