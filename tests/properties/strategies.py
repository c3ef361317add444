"""Hypothesis strategies for messy input: JSON values, dialogue-shaped records, and texts."""

from __future__ import annotations

import json

from hypothesis import strategies as st

# Pieces of text that stress tokenization and normalisation: spaces, newlines, unicode, digits,
# template-looking text and special-token strings of the bundled tokenizer.
PIECES = [
    "a",
    "hello",
    "world",
    " ",
    "  ",
    "\n",
    "\t",
    "über",
    "你好",
    "🙂",
    "x=1;",
    "42",
    "  lead",
    "trail  ",
    "[INST]",
    "###",
    "<<SYS>>",
    "<",
    "/",
    "s>",
    "</s>",
    "<s>",
    "<unk>",
    "\u00a0",
    "é",
    "\r\n",
]
ROLE_NAMES = [
    "system",
    "user",
    "assistant",
    "human",
    "gpt",
    "chatgpt",
    "bing",
    "bard",
    " User ",
    "ASSISTANT",
    "tool",
    "function",
    "wizard",
    "",
]

texts = st.lists(st.sampled_from(PIECES), max_size=12).map("".join)
plain_texts = st.lists(
    st.sampled_from(["a", "hello", "world", "über", "你好", "🙂", "42", "x=1;"]), min_size=1, max_size=40
).map(" ".join)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["id", "messages", "conversations", "role", "content", "from", "value", "text", "type"])
            | texts,
            children,
            max_size=4,
        )
    ),
    max_leaves=8,
)

parts = st.one_of(
    texts,
    st.fixed_dictionaries({"type": st.sampled_from(["text", "input_text", "output_text"]), "text": texts}),
    st.fixed_dictionaries({"type": st.just("image_url"), "image_url": st.just({"url": "http://x/y.png"})}),
)
contents = st.one_of(texts, texts, texts, st.none(), st.integers(), st.lists(parts, max_size=3), json_values)
roles = st.sampled_from(ROLE_NAMES) | st.none() | st.integers()


@st.composite
def records(draw, messy: bool = True):
    """A dialogue-shaped record in either schema; `messy=False` gives known roles and text only."""
    sharegpt = draw(st.booleans())
    role_key, content_key = ("from", "value") if sharegpt else ("role", "content")
    good = st.fixed_dictionaries({role_key: st.sampled_from(ROLE_NAMES[:10]), content_key: texts})
    turn = good
    if messy:  # mostly good turns, so that messy records are still kept now and then
        bad = st.one_of(
            st.fixed_dictionaries({role_key: roles, content_key: contents}),
            st.fixed_dictionaries({role_key: roles}),
            json_values,
        )
        turn = st.integers(0, 9).flatmap(lambda k: bad if k == 0 else good)
    record = {("conversations" if sharegpt else "messages"): draw(st.lists(turn, max_size=10))}
    if draw(st.booleans()):
        record["id"] = draw(st.text(max_size=8) | st.integers())
    return record


@st.composite
def chat_turns(draw, max_pairs: int = 8, text=plain_texts):
    """Alternating user/assistant contents, sometimes after a system prompt: (system or None, contents)."""
    system = draw(st.none() | text)
    n = draw(st.integers(1, max_pairs))
    contents = [draw(text) for _ in range(2 * n - draw(st.integers(0, 1)))]
    return system, contents


@st.composite
def tool_records(draw, reasoning: bool = False, max_exchanges: int = 5):
    """OpenAI fine-tuning records: exchanges of a user turn, 0-2 rounds of tool calls (1-2 parallel
    calls, each answered) and an answer, with random weights (and reasoning when asked)."""
    messages, n_call = [], 0
    for _ in range(draw(st.integers(1, max_exchanges))):
        messages.append({"role": "user", "content": draw(plain_texts)})
        for _ in range(draw(st.integers(0, 2))):
            calls = []
            for _ in range(draw(st.integers(1, 2))):
                n_call += 1
                args = {"q": draw(plain_texts)} if draw(st.booleans()) else {}
                calls.append(
                    {
                        "id": f"c{n_call}",
                        "type": "function",
                        "function": {"name": "search", "arguments": json.dumps(args)},
                    }
                )
            turn = {"role": "assistant", "content": draw(st.just(None) | plain_texts), "tool_calls": calls}
            if reasoning and draw(st.booleans()):
                turn["reasoning_content"] = draw(plain_texts)
            messages.append(turn)
            messages += [{"role": "tool", "tool_call_id": c["id"], "content": draw(plain_texts)} for c in calls]
        answer = {"role": "assistant", "content": draw(plain_texts), "weight": draw(st.sampled_from([0, 1, 1]))}
        if reasoning and draw(st.booleans()):
            answer["reasoning_content"] = draw(plain_texts)
        messages.append(answer)
    messages[-1]["weight"] = 1  # at least one target
    tools = [{"type": "function", "function": {"name": "search", "description": "d", "parameters": {}}}]
    system = [{"role": "system", "content": draw(plain_texts)}] if draw(st.booleans()) else []
    return {"id": "t", "tools": tools, "messages": system + messages}
