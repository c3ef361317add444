"""Token-exact truncation: choose each example's window of turns and assemble its ids and labels.

Cost is linear in a dialogue's turns: every unit of text (units.py) is tokenized once per dialogue,
a window's token count is a sum of unit lengths, and the window start of consecutive targets only
moves forward (two pointers), since adding turns never removes tokens.

Invariant (tested against the tokenizer itself): for every emitted example,
`encoder.encode_text(text) == input_ids` and `len(input_ids) <= max_seq_length`, where `text` is
what `window_text` renders for the same window.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator

from beam_prep.core.records import Dialogue, Example, Reject
from beam_prep.core.templates import CompiledTemplate, window_roles
from beam_prep.core.tokenizer import TextEncoder, UnitTokens
from beam_prep.core.units import Unit, segment

IGNORE_INDEX = -100
_LITERAL_CACHE_LIMIT = 50_000


class Fitter:
    """Everything one worker needs to fit examples; built once per worker in DoFn.setup."""

    def __init__(
        self,
        template: CompiledTemplate,
        encoder: TextEncoder,
        max_seq_length: int,
        system_prompt: str | None = None,
        special_tokens_in_content: str = "reject",
    ):
        self.template = template
        self.encoder = encoder
        self.max_seq_length = max_seq_length
        prompt = system_prompt if system_prompt is not None else template.spec.default_system_prompt
        # Stripped like every message content (normalize.py): templates may trim what they splice.
        self.system_prompt = prompt.strip() if prompt is not None else None
        self.special_policy = special_tokens_in_content
        self._literal_units: dict[tuple, UnitTokens] = {}
        self._fixed = len(encoder.prefix_ids) + len(encoder.suffix_ids)

    # -- windows -------------------------------------------------------------------------------
    def window(self, dialogue: Dialogue, start: int, end: int):
        """(skeleton, contents, turn_keys) of the window turns[start..end] with its system prompt.

        contents[0] is the system prompt when there is one (see `system_slots`), then the turns.
        """
        turns = dialogue.turns
        system = turns[0].content if dialogue.has_system else self.system_prompt
        head = [system] if system is not None else []
        contents = head + [t.content for t in turns[start : end + 1]]
        keys = (["sys"] if head else []) + list(range(start, end + 1))
        roles = window_roles(bool(head), end - start + 1, turns[start].role)
        return self._strip_added(self.template.skeleton(roles)), contents, keys

    def _strip_added(self, skeleton: tuple) -> tuple:
        """Drop a BOS (EOS) the template writes where the tokenizer adds one itself: never doubled."""
        enc = self.encoder
        first, last = skeleton[0], skeleton[-1]
        if enc.prefix_ids and enc.bos_token and first.startswith(enc.bos_token):
            skeleton = (first[len(enc.bos_token) :],) + skeleton[1:]
        if enc.suffix_ids and enc.eos_token and last.endswith(enc.eos_token):
            skeleton = skeleton[:-1] + (last[: -len(enc.eos_token)],)
        return skeleton

    def units(self, dialogue: Dialogue, start: int, end: int) -> list[Unit]:
        return segment(*self.window(dialogue, start, end), self.encoder.split_specials)

    # -- tokens --------------------------------------------------------------------------------
    def _tokens(self, units: list[Unit], cache: dict) -> list[UnitTokens]:
        missing = {}
        for u in units:
            store = cache if u.has_content else self._literal_units
            if u.key not in store and u.key not in missing:
                missing[u.key] = u
        if missing:
            if len(self._literal_units) > _LITERAL_CACHE_LIMIT:
                self._literal_units.clear()
            todo = list(missing.values())
            for u, tokens in zip(todo, self._encode(todo)):
                (cache if u.has_content else self._literal_units)[u.key] = tokens
        return [(cache if u.has_content else self._literal_units)[u.key] for u in units]

    def _encode(self, units: list[Unit]) -> list[UnitTokens]:
        plain = [u for u in units if not u.special]
        encoded = iter(self.encoder.encode_units([(u.text, u.starts_piece) for u in plain]))
        ids = self.encoder.special_ids
        return [UnitTokens((ids[u.text],), (len(u.text),)) if u.special else next(encoded) for u in units]

    def count(self, dialogue: Dialogue, start: int, end: int, cache: dict) -> int:
        """Tokens of the window as a trainer sees it, BOS/EOS included."""
        return self._fixed + sum(len(t.ids) for t in self._tokens(self.units(dialogue, start, end), cache))

    # -- fitting -------------------------------------------------------------------------------
    def fit(self, items: Iterable[tuple[Dialogue, list[Example]]]) -> Iterator[Example | Reject]:
        """Fit the examples of a batch of dialogues; units of all untruncated windows in one batch."""
        items = list(items)
        caches = [{} for _ in items]
        live = []
        for (dialogue, examples), cache in zip(items, caches):
            if self.special_policy == "reject" and (found := self._special_in(dialogue)):
                yield _reject(dialogue, "special_tokens_in_content", f"content contains {found!r}")
                continue
            live.append((dialogue, examples, cache))
        wanted = []
        for dialogue, examples, cache in live:
            for ex in examples:
                wanted += [(u, cache) for u in self.units(dialogue, ex.start, ex.end) if u.has_content]
        self._prefill(wanted)
        for dialogue, examples, cache in live:
            if examples and examples[0].turn_index == -1:
                yield from self._fit_whole(dialogue, examples[0], cache)
            else:
                yield from self._fit_responses(dialogue, examples, cache)

    def _prefill(self, wanted: list[tuple[Unit, dict]]):
        todo, seen = [], set()
        for u, cache in wanted:
            marker = (id(cache), u.key)
            if u.key not in cache and marker not in seen:
                seen.add(marker)
                todo.append((u, cache))
        for (u, cache), tokens in zip(todo, self._encode([u for u, _ in todo])):
            cache[u.key] = tokens

    def _special_in(self, dialogue: Dialogue) -> str | None:
        for turn in dialogue.turns:
            if found := self.encoder.find_special(turn.content):
                return found
        return None

    def _fit_responses(self, dialogue, examples, cache) -> Iterator[Example | Reject]:
        budget = self.max_seq_length
        start = examples[0].start if examples else 0
        first = start
        for ex in examples:
            start = max(start, ex.start)
            while start < ex.end and self.count(dialogue, start, ex.end, cache) > budget:
                start += 2  # drop the oldest user/assistant pair
            if start >= ex.end:
                yield _reject(dialogue, "too_long", f"turn {ex.end} does not fit {budget} tokens with one user turn")
                continue  # the pointer now sits after this target: later windows cannot include it
            ex.start, ex.dropped_turns = start, start - first
            self._assemble(ex, cache)
            yield ex

    def _fit_whole(self, dialogue, whole: Example, cache) -> Iterator[Example | Reject]:
        """One example if it fits, else consecutive windows of whole turns that each fit."""
        budget = self.max_seq_length
        if self.count(dialogue, whole.start, whole.end, cache) <= budget:
            self._assemble(whole, cache)
            yield whole
            return
        ends = list(whole.trained)
        start = whole.start
        while ends:
            fitting = None
            for end in ends:
                if end <= start:
                    continue
                if self.count(dialogue, start, end, cache) > budget:
                    break
                fitting = end
            if fitting is None:
                pair_end = next((e for e in ends if e > start), None)
                if pair_end is None:
                    return
                yield _reject(dialogue, "too_long", f"turns {start}..{pair_end} alone exceed {budget} tokens")
                start = pair_end + 1
            else:
                trained = tuple(e for e in ends if start < e <= fitting)
                ex = Example(dialogue, start, fitting, fitting, trained)
                self._assemble(ex, cache)
                yield ex
                start = fitting + 1
            ends = [e for e in ends if e > start]

    def _assemble(self, ex: Example, cache: dict) -> None:
        """Fill ex.input_ids and ex.labels from the units of its window."""
        units = self.units(ex.dialogue, ex.start, ex.end)
        tokens = self._tokens(units, cache)
        enc = self.encoder
        ids = list(enc.prefix_ids)
        char_starts, tok_starts, pos = [], [], 0
        for u, t in zip(units, tokens):
            char_starts.append(pos)
            tok_starts.append(len(ids))
            ids += t.ids
            pos += len(u.text)
        ids += enc.suffix_ids
        text = "".join(u.text for u in units)

        def token_at(char: int) -> int:
            """Index of the token covering character `char` of the text."""
            k = bisect_right(char_starts, char) - 1
            return tok_starts[k] + bisect_right(tokens[k].ends, char - char_starts[k])

        labels = [IGNORE_INDEX] * len(ids)
        offset = self.system_slots(ex.dialogue)
        for k, u in enumerate(units):
            for msg, s, e in u.spans:
                turn = ex.start + msg - offset
                if turn not in ex.trained:
                    continue
                a, b = char_starts[k] + s, char_starts[k] + e
                b = _end_of_turn(text, b, self.template.end_of_turn)
                first, last = token_at(a), token_at(b - 1) + 1
                labels[first:last] = ids[first:last]
        ex.input_ids, ex.labels = ids, labels

    def system_slots(self, dialogue: Dialogue) -> int:
        """1 when a window's messages start with a system prompt, else 0."""
        return int(dialogue.has_system or self.system_prompt is not None)


def _end_of_turn(text: str, content_end: int, eot: str) -> int:
    """End of the trained span: the content, and the end-of-turn marker right after it if any."""
    if not eot:
        return content_end
    at = text.find(eot, content_end)
    if at >= 0 and not text[content_end:at].strip():
        return at + len(eot)
    return content_end


def _reject(dialogue: Dialogue, reason: str, detail: str) -> Reject:
    return Reject(reason, dialogue.source, dialogue.line, "", detail, dialogue.id)


def window_text(fitter: Fitter, ex: Example) -> tuple[str, int]:
    """(text, completion start): the rendered window, and where its last turn's content begins."""
    skeleton, contents, _ = fitter.window(ex.dialogue, ex.start, ex.end)
    parts, completion = [], 0
    last = len(contents) - 1
    for p in skeleton:
        if isinstance(p, int):
            if p == last:
                completion = sum(map(len, parts))
            parts.append(contents[p])
        else:
            parts.append(p)
    return "".join(parts), completion
