"""Cut a rendered example into units whose token ids concatenate to the ids of the whole text.

A window is rendered as a template skeleton (literals and message slots). Cuts are made only
inside literals, at points where the tokenizer cannot merge across: around special tokens and
before a space that follows a non-space character. Contents are stripped and never empty, so the
cuts depend on the skeleton alone: `unit_shapes` is computed once per window shape.

Units are then grouped by the message that owns them (its own unit and the literal units up to the
next message): a middle turn's group is the same in every window, so its tokens are computed once
per dialogue and a window's count is head groups + a prefix-sum range + tail groups.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class UnitShape:
    parts: tuple  # literal strings and window message indices (int)
    starts_piece: bool  # first unit of the text, or right after a special token
    special: bool  # the unit is one special token


@dataclass(frozen=True, slots=True)
class Group:
    """The units one window message owns; `template` compares groups across window positions."""

    shapes: tuple[UnitShape, ...]
    messages: tuple[int, ...]
    template: tuple


@dataclass(slots=True, frozen=True)
class Unit:
    """A unit with its contents spliced in (`spans`: message index, start, end within `text`)."""

    key: tuple
    text: str
    starts_piece: bool
    special: bool
    spans: tuple[tuple[int, int, int], ...]

    @property
    def has_content(self) -> bool:
        return bool(self.spans)


def unit_shapes(skeleton, split_specials) -> tuple[UnitShape, ...]:
    """The content-independent units of a skeleton (see the module docstring for the cut rule)."""
    units: list[UnitShape] = []
    parts: list = []
    starts_piece = True
    prev = ""  # the last character placed; a content ends with a non-space character

    def flush():
        nonlocal parts, starts_piece
        if parts:
            units.append(UnitShape(tuple(parts), starts_piece, False))
            parts, starts_piece = [], False

    for part in skeleton:
        if isinstance(part, int):
            parts.append(part)
            prev = "x"
            continue
        for piece, is_special in split_specials(part):
            if is_special:
                flush()
                units.append(UnitShape((piece,), True, True))
                starts_piece, prev = True, piece[-1]
                continue
            pos = 0
            for i, ch in enumerate(piece):
                before = piece[i - 1] if i else prev
                if ch == " " and before and not before.isspace() and (parts or i > pos):
                    if i > pos:
                        parts.append(piece[pos:i])
                    flush()
                    pos = i
            parts.append(piece[pos:])
            prev = piece[-1]
    flush()
    return tuple(units)


def group_units(shapes: tuple[UnitShape, ...]) -> tuple[Group, ...]:
    """Split unit shapes into per-message groups; units before the first message join its group."""
    groups, current, messages = [], [], []
    for shape in shapes:
        found = [p for p in shape.parts if isinstance(p, int)]
        if found and messages and found[0] not in messages:
            groups.append(_group(current, messages))
            current, messages = [], []
        current.append(shape)
        messages += [m for m in found if m not in messages]
    if current:
        groups.append(_group(current, messages))
    return tuple(groups)


def _group(shapes: list[UnitShape], messages: list[int]) -> Group:
    rank = {m: i for i, m in enumerate(messages)}
    template = tuple(
        (s.starts_piece, s.special, tuple(("#", rank[p]) if isinstance(p, int) else p for p in s.parts)) for s in shapes
    )
    return Group(tuple(shapes), tuple(messages), template)


def instantiate(shape: UnitShape, contents, keys) -> Unit:
    """The unit with contents spliced in; its key names turns by `keys` so it is reusable."""
    key, texts, spans, pos = [shape.starts_piece], [], [], 0
    for p in shape.parts:
        if isinstance(p, int):
            content = contents[p]
            key.append(("m", keys[p]))
            spans.append((p, pos, pos + len(content)))
            texts.append(content)
            pos += len(content)
        else:
            key.append(p)
            texts.append(p)
            pos += len(p)
    return Unit(tuple(key), "".join(texts), shape.starts_piece, shape.special, tuple(spans))


def segment(skeleton, contents, turn_keys, split_specials) -> list[Unit]:
    """All units of a rendered window (the reference path: preview and tests)."""
    return [instantiate(s, contents, turn_keys) for s in unit_shapes(skeleton, split_specials)]
