"""transformers' Trainer with DataCollatorForSeq2Seq on hf/ as is trains exactly our labels: the
collated batch holds our input_ids and labels row by row, padded on the right with -100 labels and
a zero attention mask; then one optimiser step on a tiny Llama on CPU."""

from __future__ import annotations

import pytest

from tests.clients.conftest import RUNS, require, tiny_llama

require("torch")
require("accelerate")
from transformers import AutoTokenizer, DataCollatorForSeq2Seq, Trainer, TrainingArguments  # noqa: E402

TOKEN_COLUMNS = ["input_ids", "attention_mask", "labels"]


@pytest.mark.parametrize("name", sorted(RUNS))
def test_seq2seq_collator_batches_our_labels(sample_output, tmp_path, name):
    hf, tokenizer_dir = sample_output(name)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    tokenizer.padding_side = "right"  # the bundled tokenizer loads with left padding
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token  # only padding: the labels there are -100
    collate = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100)
    train = hf["train"].select_columns(TOKEN_COLUMNS)
    compared = 0
    for start in range(0, len(train), 8):
        rows = [train[i] for i in range(start, min(start + 8, len(train)))]
        batch = collate(rows)
        for i, row in enumerate(rows):
            n = len(row["input_ids"])
            assert batch["input_ids"][i, :n].tolist() == row["input_ids"]
            assert batch["labels"][i, :n].tolist() == row["labels"]
            assert batch["attention_mask"][i].tolist() == [1] * n + [0] * (batch["labels"].shape[1] - n)
            assert set(batch["labels"][i, n:].tolist()) <= {-100}
            compared += 1
    assert compared == len(train) > 100
    if name == "llama2-chat-memory":
        args = TrainingArguments(
            output_dir=str(tmp_path / "trainer"),
            max_steps=1,
            per_device_train_batch_size=2,
            report_to=[],
            save_strategy="no",
            use_cpu=True,
        )
        model = tiny_llama(len(tokenizer), tokenizer.pad_token_id)
        trainer = Trainer(model=model, args=args, train_dataset=train, data_collator=collate)
        trainer.train()
        assert trainer.state.global_step == 1
