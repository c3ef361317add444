"""The usual way, written independently of beam_prep: datasets.map renders and re-tokenizes.

What LLaMA-Factory- or axolotl-style preprocessing code does for per-response examples with memory:
for each assistant turn, render the history in the llama2-chat-memory format (templates/README.md; golden
strings in tests/core/test_templates_golden.py), tokenize the whole text with the trainer's
tokenizer, and while it is over max_seq_length drop the oldest user/assistant pair and tokenize
again. The memory is a sliding buffer carried from one response to the next (the window start only
moves forward), as a chatbot's memory works; restarting from the full history for every response
instead would re-tokenize up to ~27 billion tokens on the 20,000-dialogue corpus (cubic cost), which
no one could run. Labels mask the prompt (every token that ends inside it) using the offsets of the same tokenization.

It shares no code with beam_prep: only the format string and the default system prompt are copied.
"""

from __future__ import annotations

DEFAULT_SYSTEM = "You are a helpful Assistant. Respond based on the following conversation history."
IGNORE_INDEX = -100
COLUMNS = (
    "id",
    "dialogue_id",
    "turn_index",
    "prompt",
    "completion",
    "text",
    "num_tokens",
    "context_turns",
    "dropped_turns",
    "input_ids",
    "labels",
)

_tokenizer = None  # one per process: datasets' num_proc workers each load their own


def tokenizer(path: str):
    global _tokenizer
    if _tokenizer is None:
        from transformers import AutoTokenizer

        _tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    return _tokenizer


def render(system: str, history: list[dict], response: str) -> tuple[str, str]:
    """(prompt, text) of one example: history ends with the user turn that `response` answers."""
    prompt = "[INST] <<SYS>>\n" + system + "\n<</SYS>>\n\n"
    for m in history:
        prompt += ("###User: " if m["role"] == "user" else "###You: ") + m["content"]
    prompt += "###You: [/INST] "
    return prompt, prompt + response + "</s>"


def dialogue_examples(tok, dialogue_id: str, messages: list[dict], max_seq_length: int) -> list[dict]:
    """The per-response examples of one dialogue (clean input: alternating, stripped turns)."""
    system, offset = DEFAULT_SYSTEM, 0
    if messages and messages[0]["role"] == "system":
        system, offset = messages[0]["content"], 1
    turns = messages[offset:]
    out, start = [], 0  # start: index in `turns` of the oldest turn kept in memory
    for end in range(1, len(turns), 2):
        if turns[end]["role"] != "assistant":
            continue
        while True:
            prompt, text = render(system, turns[start:end], turns[end]["content"])
            enc = tok(text, return_offsets_mapping=True)
            if len(enc["input_ids"]) <= max_seq_length or start >= end - 1:
                break
            start += 2  # drop the oldest user/assistant pair and tokenize again
        ids = enc["input_ids"]
        if len(ids) > max_seq_length:  # one user turn and its response alone do not fit
            start = end + 1
            continue
        cut = len(prompt)
        labels = [t if e > cut else IGNORE_INDEX for t, (_, e) in zip(ids, enc["offset_mapping"])]
        out.append(
            {
                "id": f"{dialogue_id}/{end + offset}",
                "dialogue_id": dialogue_id,
                "turn_index": end + offset,
                "prompt": prompt,
                "completion": text[cut:],
                "text": text,
                "num_tokens": len(ids),
                "context_turns": end - start,
                "dropped_turns": start,
                "input_ids": ids,
                "labels": labels,
            }
        )
    return out


def map_batch(batch: dict, tokenizer_path: str, max_seq_length: int) -> dict:
    """datasets.map(batched=True) function: a batch of dialogues -> a batch of examples."""
    tok = tokenizer(tokenizer_path)
    out = {c: [] for c in COLUMNS}
    for dialogue_id, messages in zip(batch["id"], batch["messages"]):
        for row in dialogue_examples(tok, dialogue_id, messages, max_seq_length):
            for c in COLUMNS:
                out[c].append(row[c])
    return out


def run_baseline(files: list[str], tokenizer_path: str, max_seq_length: int, cache_dir: str, num_proc: int = 2):
    """load_dataset('json') + map(batched=True, num_proc) -> the examples Dataset (Arrow on disk)."""
    import datasets

    datasets.disable_progress_bars()
    raw = datasets.load_dataset("json", data_files=sorted(files), split="train", cache_dir=cache_dir)
    return raw.map(
        map_batch,
        batched=True,
        batch_size=64,
        num_proc=num_proc,
        remove_columns=raw.column_names,
        fn_kwargs={"tokenizer_path": tokenizer_path, "max_seq_length": max_seq_length},
    )
