"""How a window of a dialogue becomes token ids: the layout machinery under the Fitter.

A window is rendered as a template skeleton, cut into units (units.py) and grouped per message.
Every unit is tokenized once per dialogue (content units) or once per worker (literal units); the
groups of middle turns are the same in every window, so they are laid out once per dialogue in a
flat array and a window is: head groups + a slice of the flat array + tail groups. `count` is then
O(1) per window for regular templates, and assembling an example costs copies of int arrays.

Token ids are `array('i')` from the tokenizer on (tokenizer.UnitTokens): each chunk's ids become
machine ints once, and groups and examples are memcpy'd from them. Built as Python lists, every output
token was converted again in each example that holds it (2.8 examples a turn on the benchmark
corpus; benchmarks/README.md run 9).
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from itertools import repeat
from typing import NamedTuple

from beam_prep.core.records import ASSISTANT, USER, Dialogue, Example
from beam_prep.core.templates import CompiledTemplate, TemplateError, window_roles
from beam_prep.core.tokenizer import TextEncoder, UnitTokens
from beam_prep.core.units import Group, Unit, group_units, instantiate, segment, unit_shapes

IGNORE_INDEX = -100
_LITERAL_CACHE_LIMIT = 50_000
_PROBE_TURNS = 12  # window length whose middle groups define the regular (canonical) groups


@dataclass(frozen=True, slots=True)
class WindowShape:
    groups: tuple[Group, ...]
    middle: tuple[int, int] | None  # group index range [a, b] of canonical single-message groups


@dataclass(frozen=True, slots=True)
class GroupTokens:
    ids: array  # array('i'), as every token sequence from here on
    labels: array


@dataclass(slots=True)
class _Flat:
    """Canonical groups of every turn of a dialogue, laid end to end (per dialogue, per labelling)."""

    ids: array
    labels: array
    offsets: list[int]  # offsets[j]: start of turn j's group in ids; offsets[n]: the end


@dataclass(frozen=True, slots=True)
class DialogueCache:
    """What the windows of one dialogue share while it is fitted; dropped with the dialogue."""

    units: dict[tuple, UnitTokens] = field(default_factory=dict)  # content units, by Unit.key
    groups: dict[tuple, GroupTokens] = field(default_factory=dict)  # by (template, turn keys, trained flags)
    flats: dict[bool, _Flat | None] = field(default_factory=dict)  # by "assistants trained"; None: no middle


class _Pieces(NamedTuple):
    """A window as token pieces: its groups, with the slice flat.ids[lo:hi] at position `at`."""

    groups: list[GroupTokens]
    at: int
    flat: _Flat | None  # None: no middle slice (lo == hi == 0)
    lo: int
    hi: int


class _LabelBounds(NamedTuple):
    """Where a group's trained spans begin and end, in characters of the group's text, and which
    of its units need their tokens' end offsets to turn those into token positions."""

    starts: list[int]  # each unit's first character in the group's text, then the text's length
    spans: list[tuple[int, int]]  # (answer_start, end of turn) of each trained message
    need: list[bool]  # by unit: a boundary falls where only the tokens' end offsets place it

    def token_spans(self, tokens: list[UnitTokens]) -> Iterator[tuple[int, int]]:
        """(first, last) token of each span: as `bisect_right(ends, a)` and `bisect_right(ends,
        b - 1) + 1` over the end offsets of all the group's tokens, reading the offsets of only
        the units where `need` asked for them (or that had them already)."""
        cum = [0]
        for t in tokens:
            cum.append(cum[-1] + len(t.ids))
        starts, n = self.starts, len(tokens)
        for a, b in self.spans:
            i = bisect_right(starts, a) - 1
            if i >= n:
                first = cum[n]
            elif tokens[i].ends is None:  # a starts unit i (see _label_bounds)
                first = cum[i]
            else:
                first = cum[i] + bisect_right(tokens[i].ends, a - starts[i])
            j = bisect_right(starts, b - 1) - 1
            yield first, cum[j] + bisect_right(tokens[j].ends, b - 1 - starts[j]) + 1


def _label_bounds(units: list[Unit], trained: frozenset, eot: str) -> _LabelBounds:
    """The trained spans of a group's units, and the units that need end offsets.

    Not needed where an answer begins a unit that is one special token or a mid-text unit (it
    begins with the space its first token covers): every earlier token ends before it and every
    token of the unit after, so the answer's first token is the unit's first. A span's end in a
    unit of one special token is read from that token's end, which such a unit always carries.
    Anywhere else (inside a plain unit, at the start of a unit that starts a piece) the tokens'
    end offsets decide, as they did for the whole group."""
    starts, spans, char = [], [], 0
    for u in units:
        starts.append(char)
        spans += [(char + a, char + b) for m, a, b in u.spans if m in trained]
        char += len(u.text)
    starts.append(char)
    text = "".join(u.text for u in units)
    spans = [(answer_start(text, a), _end_of_turn(text, b, eot)) for a, b in spans]
    need, n = [False] * len(units), len(units)
    for a, b in spans:
        i = bisect_right(starts, a) - 1
        if i < n:
            u = units[i]
            edge = a == starts[i] and (u.special or (not u.starts_piece and u.text[:1] == " "))
            need[i] = need[i] or not edge
        j = bisect_right(starts, b - 1) - 1
        need[j] = need[j] or not units[j].special  # a special token's unit always has its end
    return _LabelBounds(starts, spans, need)


class WindowLayout:
    """Token layout of windows: unit shapes per window shape, counts and ids of windows."""

    def __init__(self, template: CompiledTemplate, encoder: TextEncoder, system_prompt: str | None):
        self.template = template
        self.encoder = encoder
        self.system_prompt = system_prompt  # the run's system prompt, already stripped (None: none)
        self._literal_units: dict[tuple, UnitTokens] = {}
        self._fixed = len(encoder.prefix_ids) + len(encoder.suffix_ids)
        self._shapes: dict[tuple, WindowShape] = {}
        self._canonical: dict[bool, dict[str, Group]] = {}

    # -- windows -------------------------------------------------------------------------------
    def system_slots(self, dialogue: Dialogue) -> int:
        """1 when a window's messages start with a system prompt, else 0."""
        return int(dialogue.has_system or self.system_prompt is not None)

    def window(self, dialogue: Dialogue, start: int, end: int):
        """(skeleton, contents, turn_keys) of the window turns[start..end] with its system prompt.

        contents[0] is the system prompt when there is one (see `system_slots`), then the turns.
        """
        contents, keys, roles = self._messages(dialogue, start, end)
        return self._strip_added(self.template.skeleton(roles)), contents, keys

    def _messages(self, dialogue: Dialogue, start: int, end: int):
        turns = dialogue.turns
        system = turns[0].content if dialogue.has_system else self.system_prompt
        head = [system] if system is not None else []
        contents = head + [t.content for t in turns[start : end + 1]]
        keys = (["sys"] if head else []) + list(range(start, end + 1))
        return contents, keys, window_roles(bool(head), end - start + 1, turns[start].role)

    def _strip_added(self, skeleton: tuple) -> tuple:
        """Drop a BOS (EOS) the template writes where the tokenizer adds one itself: never doubled.

        And end the window with the last trained token: whatever a template writes after the last
        answer's end-of-turn (ChatML's `\n`, the first Llama-3 template's unconditional generation
        header) would be an untrained tail of every completion: a client that trains the whole
        completion would teach the model to open a new turn after its answer."""
        enc = self.encoder
        skeleton = skeleton[:-1] + (_trained_tail(skeleton[-1], self.template.end_of_turn),)
        first, last = skeleton[0], skeleton[-1]
        if enc.prefix_ids and enc.bos_token and first.startswith(enc.bos_token):
            skeleton = (first[len(enc.bos_token) :],) + skeleton[1:]
        if enc.suffix_ids and enc.eos_token and last.endswith(enc.eos_token):
            skeleton = skeleton[:-1] + (last[: -len(enc.eos_token)],)
        return skeleton

    def units(self, dialogue: Dialogue, start: int, end: int) -> list[Unit]:
        """Every unit of a window with contents spliced in (the reference path: preview, tests)."""
        return segment(*self.window(dialogue, start, end), self.encoder.split_specials)

    def shape(self, roles: tuple[str, ...]) -> WindowShape:
        """Unit groups of a window shape, and which of them are regular middle groups (cached)."""
        ws = self._shapes.get(roles)
        if ws is None:
            skeleton = self._strip_added(self.template.skeleton(roles))
            groups = group_units(unit_shapes(skeleton, self.encoder.split_specials))
            ws = self._shapes[roles] = WindowShape(groups, self._middle(roles, groups))
        return ws

    def _canonical_groups(self, has_system: bool) -> dict[str, Group]:
        """The group of a user and of an assistant turn in the middle of a long window."""
        canon = self._canonical.get(has_system)
        if canon is None:
            roles = window_roles(has_system, _PROBE_TURNS)
            try:
                skeleton = self._strip_added(self.template.skeleton(roles))
            except TemplateError:  # it raises on long windows: no regular middle, windows counted whole
                self._canonical[has_system] = {}
                return {}
            groups = group_units(unit_shapes(skeleton, self.encoder.split_specials))
            by_message = {g.messages[0]: g for g in groups if len(g.messages) == 1}
            mid = len(roles) // 2
            canon = {}
            for m in (mid, mid + 1):
                if m in by_message:
                    canon[roles[m]] = by_message[m]
            canon = self._canonical[has_system] = canon if len(canon) == 2 else {}
        return canon

    def _middle(self, roles: tuple[str, ...], groups: tuple[Group, ...]) -> tuple[int, int] | None:
        canon = self._canonical_groups(roles[0] not in (USER, ASSISTANT))
        if not canon:
            return None
        last = len(roles) - 1
        ok = [
            len(g.messages) == 1
            and g.messages[0] != last
            and canon.get(roles[g.messages[0]]) is not None
            and canon[roles[g.messages[0]]].template == g.template
            and roles[g.messages[0]] in (USER, ASSISTANT)
            for g in groups
        ]
        best, run_start = None, None
        for i, good in enumerate([*ok, False]):
            if good and run_start is None:
                run_start = i
            elif not good and run_start is not None:
                if best is None or i - 1 - run_start > best[1] - best[0]:
                    best = (run_start, i - 1)
                run_start = None
        return best

    # -- tokens --------------------------------------------------------------------------------
    def _store(self, unit: Unit, cache: DialogueCache) -> dict:
        return cache.units if unit.has_content else self._literal_units

    def _encode_missing(self, wanted: Iterable[tuple[Unit, DialogueCache, bool]]) -> None:
        """Encode in one batch every (unit, its dialogue's cache, end offsets wanted) not cached
        yet, or cached without the end offsets now wanted; each distinct unit once."""
        if len(self._literal_units) > _LITERAL_CACHE_LIMIT:
            self._literal_units.clear()
        todo: dict[tuple, list] = {}
        for u, cache, ends in wanted:
            found = self._store(u, cache).get(u.key)
            if found is not None and (found.ends is not None or not ends):
                continue
            marker = (id(cache) if u.has_content else 0, u.key)
            entry = todo.get(marker)
            if entry is None:
                todo[marker] = [u, cache, ends]
            elif ends:
                entry[2] = True
        if not todo:
            return
        plain = [(u, ends) for u, _, ends in todo.values() if not u.special]
        encoded = iter(self.encoder.encode_units([(u.text, u.starts_piece) for u, _ in plain], [e for _, e in plain]))
        special_ids = self.encoder.special_ids
        for u, cache, _ in todo.values():
            tokens = UnitTokens(array("i", (special_ids[u.text],)), (len(u.text),)) if u.special else next(encoded)
            self._store(u, cache)[u.key] = tokens

    def prefill(self, batch: list[tuple[Dialogue, list[Example], DialogueCache]], whole: bool) -> None:
        """Tokenize, in one batch, every turn's canonical units and each target's last-turn units
        (`whole`: whole_dialog examples). End offsets (for labels) only where a unit may be trained."""
        self._encode_missing(self._prefill_units(batch, whole))

    def _prefill_units(self, batch, whole: bool) -> Iterator[tuple[Unit, DialogueCache, bool]]:
        eot = self.template.end_of_turn
        for dialogue, examples, cache in batch:
            canon = self._canonical_groups(self.system_slots(dialogue) == 1)
            for turn, new in self._canonical_units(dialogue, canon):
                if whole and turn.role == ASSISTANT:  # trained in the middle of a window too
                    m = canon[ASSISTANT].messages[0]
                    yield from zip(new, repeat(cache), _label_bounds(new, frozenset((m,)), eot).need)
                else:
                    yield from zip(new, repeat(cache), repeat(False))
            for ex in examples:
                contents, keys, roles = self._messages(dialogue, max(ex.start, ex.end - 1), ex.end)
                target = len(contents) - 1
                for group in self.shape(roles).groups:
                    units = [instantiate(s, contents, keys) for s in group.shapes]
                    bounds = _label_bounds(units, frozenset((target,)), eot) if target in group.messages else None
                    yield from zip(units, repeat(cache), bounds.need if bounds else repeat(False))

    def _group_tokens(self, group: Group, contents, keys, trained: frozenset, cache: DialogueCache) -> GroupTokens:
        flags = tuple(m in trained for m in group.messages)
        gkey = (group.template, tuple(keys[m] for m in group.messages), flags)
        found = cache.groups.get(gkey)
        if found is not None:
            return found
        units = [instantiate(s, contents, keys) for s in group.shapes]
        bounds = _label_bounds(units, trained, self.template.end_of_turn) if any(flags) else None
        need = bounds.need if bounds else [False] * len(units)
        self._encode_missing(zip(units, repeat(cache), need))
        tokens = [self._store(u, cache)[u.key] for u in units]
        ids = array("i")
        for t in tokens:
            ids += t.ids
        labels = _ignored(len(ids))
        if bounds:
            for first, last in bounds.token_spans(tokens):
                labels[first:last] = ids[first:last]
        result = cache.groups[gkey] = GroupTokens(ids, labels)
        return result

    def _flat(self, dialogue: Dialogue, cache: DialogueCache, train_assistants: bool) -> _Flat | None:
        """Every turn's canonical group, end to end: the middle of any window is a slice of it."""
        if train_assistants in cache.flats:
            return cache.flats[train_assistants]
        canon = self._canonical_groups(self.system_slots(dialogue) == 1)
        if not canon:
            cache.flats[train_assistants] = None
            return None
        ids, labels, offsets = array("i"), array("i"), []
        first = 1 if dialogue.has_system else 0
        self._encode_missing((u, cache, False) for _, new in self._canonical_units(dialogue, canon) for u in new)
        for j, turn in enumerate(dialogue.turns[: _middle_end(dialogue)]):
            offsets.append(len(ids))
            if j < first:
                continue
            group = canon[turn.role]
            m = group.messages[0]
            trained = frozenset((m,)) if train_assistants and turn.role == ASSISTANT and turn.weight else frozenset()
            gt = self._group_tokens(group, {m: turn.content}, {m: j}, trained, cache)
            ids += gt.ids
            labels += gt.labels
        offsets.append(len(ids))
        flat = cache.flats[train_assistants] = _Flat(ids, labels, offsets)
        return flat

    def _canonical_units(self, dialogue: Dialogue, canon: dict):
        """(turn, units of its canonical group) for every turn that can be in a window's middle."""
        for j in range(1 if dialogue.has_system else 0, _middle_end(dialogue)):
            turn = dialogue.turns[j]
            group = canon.get(turn.role)
            if group is not None:
                m = group.messages[0]
                yield turn, [instantiate(s, {m: turn.content}, {m: j}) for s in group.shapes]

    def _pieces(self, dialogue: Dialogue, start: int, end: int, cache: DialogueCache, trained: tuple[int, ...]):
        """The window's groups, its middle ones as a slice of the dialogue's flat layout."""
        contents, keys, roles = self._messages(dialogue, start, end)
        ws = self.shape(roles)
        n_head = len(contents) - (end - start + 1)
        trained_msgs = frozenset(t - start + n_head for t in trained if start <= t <= end)
        groups, middle = ws.groups, ws.middle
        flat = None
        if middle is not None and middle[1] - middle[0] >= 1:
            flat = self._flat(dialogue, cache, train_assistants=bool(trained_msgs - {len(contents) - 1}))
        if flat is None:
            return _Pieces([self._group_tokens(g, contents, keys, trained_msgs, cache) for g in groups], 0, None, 0, 0)
        a, b = middle
        out = [self._group_tokens(g, contents, keys, trained_msgs, cache) for g in groups[:a] + groups[b + 1 :]]
        lo, hi = flat.offsets[keys[groups[a].messages[0]]], flat.offsets[keys[groups[b].messages[0]] + 1]
        return _Pieces(out, a, flat, lo, hi)

    def count(self, dialogue: Dialogue, start: int, end: int, cache: DialogueCache) -> int:
        """Tokens of the window as a trainer sees it, BOS/EOS included."""
        pieces = self._pieces(dialogue, start, end, cache, ())
        total = self._fixed + pieces.hi - pieces.lo
        for g in pieces.groups:
            total += len(g.ids)
        return total

    def assemble(self, ex: Example, cache: DialogueCache) -> Example:
        """A copy of `ex` with input_ids and labels from the groups of its window. A copy, so the
        ids are held only by the example handed on, not by the caller's batch of inputs."""
        enc = self.encoder
        ids, labels = array("i", enc.prefix_ids), _ignored(len(enc.prefix_ids))
        pieces = self._pieces(ex.dialogue, ex.start, ex.end, cache, ex.trained)
        for g in pieces.groups[: pieces.at]:
            ids += g.ids
            labels += g.labels
        if pieces.flat is not None:
            ids += pieces.flat.ids[pieces.lo : pieces.hi]
            labels += pieces.flat.labels[pieces.lo : pieces.hi]
        for g in pieces.groups[pieces.at :]:
            ids += g.ids
            labels += g.labels
        ids.extend(enc.suffix_ids)
        labels += _ignored(len(enc.suffix_ids))
        return replace(ex, input_ids=ids, labels=labels)


def _ignored(n: int) -> array:
    """The labels of n untrained tokens."""
    return array("i", (IGNORE_INDEX,)) * n


def _middle_end(dialogue: Dialogue) -> int:
    """Turns from here on are never in the middle of a window: a window ends at an assistant turn,
    and its last message is always laid out on its own. The dialogue's last assistant turn and
    anything after it are tokenized only as a target."""
    turns = dialogue.turns
    last = max((i for i, t in enumerate(turns) if t.role == ASSISTANT), default=0)
    return last


def answer_start(text: str, content_start: int) -> int:
    """Start of an answer's trained span, and of the `completion` column: the content, and the
    spaces right before it. A Llama/Mistral tokenizer merges `[/INST] ` + `Great` into `▁Great`, so
    the space belongs to the answer's first token; where it stays a lone `▁` token (before a digit,
    say) it is trained too, so `prompt` is the same string for every answer (`...[/INST]`, what an
    inference server sends) and `tokenizer(prompt)` is a prefix of `input_ids`. Newlines stay in the
    prompt: they are part of the generation prompt (`<|im_start|>assistant\n`)."""
    while content_start > 0 and text[content_start - 1] == " ":
        content_start -= 1
    return content_start


def _trained_tail(literal: str, eot: str) -> str:
    """The part of the literal after the last answer that is trained: its end-of-turn marker (with
    the whitespace before it), or nothing."""
    rest = literal.lstrip()
    if eot and rest.startswith(eot):
        return literal[: len(literal) - len(rest) + len(eot)]
    return ""


def _end_of_turn(text: str, content_end: int, eot: str) -> int:
    """End of the trained span: the content, and the end-of-turn marker right after it if any."""
    if not eot:
        return content_end
    at = text.find(eot, content_end)
    if at >= 0 and not text[content_end:at].strip():
        return at + len(eot)
    return content_end
