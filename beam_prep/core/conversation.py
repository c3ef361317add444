"""--conversation_key: which records are parts of one conversation, and in which order.

Values (README, docs/input.md):
- `auto` (default): a ShareGPT dump's split conversations. A record is part `n` of conversation
  `<base>` when it is in the ShareGPT schema (`conversations`), its id is `<base>_<n>` and `<base>`
  looks like a ShareGPT id: 6 to 8 letters and digits mixing at least two of upper case, lower case
  and digits (`QWJhYvA_0`, `i6IyJda_3`). `user_17`, `chat_2`, `d_5` stay dialogues of their own.
- `none`: every record is a dialogue of its own.
- `id_suffix`: every id `<base>_<n>`, in any schema, is part `n` of `<base>`.
- `field:NAME` or `field:NAME:ORDER`: records with the same value of field NAME are one
  conversation, in the order of the integer field ORDER (without ORDER: in input order, by file
  and line). A record without NAME is a dialogue of its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

AUTO, NONE, ID_SUFFIX, FIELD = "auto", "none", "id_suffix", "field"
KEY_FORMS = ("auto", "none", "id_suffix", "field:NAME", "field:NAME:ORDER")
_SUFFIX = re.compile(r"^(.+)_(0|[1-9][0-9]{0,8})$")
_SHAREGPT_BASE = re.compile(r"^[A-Za-z0-9]{6,8}$")


@dataclass(frozen=True, slots=True)
class ConversationKey:
    mode: str = AUTO
    name: str = ""  # the conversation field (mode field)
    order: str = ""  # the part-order field (mode field), or "" for input order

    def part_of(self, value: object) -> tuple[str, int | None] | None:
        """(conversation, part number) of a decoded record, or None for a dialogue of its own.

        The number is None for `field:NAME` without ORDER (parts then follow input order), and -1
        when the ORDER field is missing or not an integer (such a part is rejected when rejoined).
        """
        if self.mode == NONE or not isinstance(value, dict):
            return None
        if self.mode == FIELD:
            conversation = value.get(self.name)
            if conversation is None or isinstance(conversation, (dict, list)) or str(conversation) == "":
                return None
            if not self.order:
                return str(conversation), None
            number = value.get(self.order)
            ok = isinstance(number, int) and not isinstance(number, bool) and number >= 0
            return str(conversation), number if ok else -1
        ident = value.get("id")
        if not isinstance(ident, str) or not (m := _SUFFIX.match(ident)):
            return None
        base, number = m.group(1), int(m.group(2))
        if self.mode == AUTO and not (isinstance(value.get("conversations"), list) and sharegpt_base(base)):
            return None
        return base, number


def sharegpt_base(base: str) -> bool:
    """Whether an id base looks like ShareGPT's opaque ids (QWJhYvA, i6IyJda), not a word (user)."""
    if not _SHAREGPT_BASE.match(base):
        return False
    classes = (any(c.isupper() for c in base), any(c.islower() for c in base), any(c.isdigit() for c in base))
    return sum(classes) >= 2


def parse_conversation_key(value: str) -> ConversationKey:
    """ConversationKey from its text form (auto, none, id_suffix, field:NAME[:ORDER]); ValueError naming the
    bad value and the forms (the caller names the setting that held it)."""
    text = str(value).strip()
    if text in (AUTO, NONE, ID_SUFFIX):
        return ConversationKey(text)
    fields = text.split(":")
    if fields[0] == FIELD and len(fields) in (2, 3) and all(f.strip() for f in fields[1:]):
        return ConversationKey(FIELD, fields[1].strip(), fields[2].strip() if len(fields) == 3 else "")
    raise ValueError(f"{value!r} is not one of: {', '.join(KEY_FORMS)}")
