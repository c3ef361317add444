"""The trainer boundary contract on a tool corpus (conftest.tool_corpus: tools, one and parallel
calls, tool results, weight-0 answers, reasoning, system prompts), run with Qwen3's chat template.

The client checks themselves are the plain rows' ones: test_trl.py, test_trainer.py run on
`qwen3-tools` too (it is in RUNS): TRL's prepared dataset and collated batch, from hf/ as is and from
the prompt/completion columns TRL tokenizes itself, and transformers' DataCollatorForSeq2Seq, give our
input_ids and labels row by row. Here: what those labels are, checked on the rows against the raw
records, and axolotl's pre-tokenized contract on the same rows."""

from __future__ import annotations

from transformers import AutoTokenizer

from tests.clients.test_axolotl_contract import is_dataset_already_tokenized
from tests.templates.helpers import trained_runs

IGNORE = -100
NEVER_TRAINED = ("Weight zero greeting", "Result ", "You are assistant", "Hello, I am user", "Current weather")


def test_labels_are_only_on_weight_1_assistant_turns(sample_output):
    hf, tokenizer_dir = sample_output("qwen3-tools")
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    calls = answers = 0
    for split in ("train", "validation"):
        for row in hf[split]:
            runs = trained_runs(row["labels"])
            assert runs and all(row["labels"][a:b] == row["input_ids"][a:b] for a, b in runs)
            for a, b in runs:
                text = tokenizer.decode(row["input_ids"][a:b])
                assert not any(never in text for never in NEVER_TRAINED), text
                assert row["input_ids"][b - 1] == end, text  # each trained turn ends with its end-of-turn
                calls += "<tool_call>" in text
                answers += "degrees in C" in text or "You are welcome" in text
        assert is_dataset_already_tokenized(hf[split])
    assert calls > 50 and answers > 100  # every weight-1 target of the corpus: calls and answers
