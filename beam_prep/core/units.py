"""Cut a rendered example into units whose token ids concatenate to the ids of the whole text.

A window is rendered as a template skeleton (literals and message slots). Cuts are made only
inside literals, at points where the tokenizer cannot merge across: around special tokens and
before a space that follows a non-space character. Because template literals are the same for a
turn wherever the window starts, most units recur across a dialogue's examples and are tokenized
once per dialogue (content units) or once per worker (literal-only units).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True, frozen=True)
class Unit:
    key: tuple  # (starts_piece, parts...): a literal str or ("m", turn_key) per part
    text: str
    starts_piece: bool  # first unit of the text, or right after a special token
    special: bool  # the unit is one special token
    spans: tuple[tuple[int, int, int], ...]  # (window message index, start, end) within `text`

    @property
    def has_content(self) -> bool:
        return bool(self.spans)


def segment(skeleton, contents, turn_keys, split_specials) -> list[Unit]:
    """Units of the text `skeleton` renders with `contents` spliced into its message slots.

    skeleton: literal strings and message indices (templates.CompiledTemplate.skeleton);
    contents[i] / turn_keys[i]: the content and a stable cache key of window message i;
    split_specials: literal -> [(piece, is_special)] (TextEncoder.split_specials).
    """
    units: list[Unit] = []
    parts: list = []
    texts: list[str] = []
    spans: list[tuple[int, int, int]] = []
    length = 0
    starts_piece = True
    prev = ""  # the last character placed, across units

    def flush():
        nonlocal parts, texts, spans, length, starts_piece
        if texts:
            units.append(Unit((starts_piece, *parts), "".join(texts), starts_piece, False, tuple(spans)))
            parts, texts, spans, length, starts_piece = [], [], [], 0, False

    def add_literal(piece: str):
        nonlocal length
        parts.append(piece)
        texts.append(piece)
        length += len(piece)

    for part in skeleton:
        if isinstance(part, int):
            content = contents[part]
            parts.append(("m", turn_keys[part]))
            spans.append((part, length, length + len(content)))
            texts.append(content)
            length += len(content)
            prev = content[-1:] or prev
            continue
        for piece, is_special in split_specials(part):
            if is_special:
                flush()
                units.append(Unit((True, piece), piece, True, True, ()))
                starts_piece = True
                prev = piece[-1]
                continue
            pos = 0
            for i, ch in enumerate(piece):
                before = piece[i - 1] if i else prev
                if ch == " " and before and not before.isspace() and (texts or i > pos):
                    if i > pos:
                        add_literal(piece[pos:i])
                    flush()
                    pos = i
            add_literal(piece[pos:])
            prev = piece[-1]
    flush()
    return units
