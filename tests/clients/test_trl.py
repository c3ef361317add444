"""TRL's SFTTrainer trains exactly our labels: on hf/ as is (pre-tokenized), and on the `prompt` /
`completion` columns alone (TRL tokenizes them itself and masks the prompt). The reference is TRL's
own prepared dataset and its collated batch, compared row by row with our input_ids and labels;
then one optimiser step on a tiny Llama on CPU shows the data trains."""

from __future__ import annotations

import pytest

from tests.clients.conftest import RUNS, require, tiny_llama

require("torch")
trl = require("trl")
from transformers import AutoTokenizer  # noqa: E402

IGNORE = -100
TRAINED = "llama2-chat-memory"  # the run that also takes an optimiser step (the others: the data only)


def sft_trainer(tmp_path, tokenizer_dir, train, **config):
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    args = trl.SFTConfig(
        output_dir=str(tmp_path / "trl"),
        max_length=None,  # TRL's default, 1024, cuts and drops rows our 4096 budget kept
        max_steps=1,
        per_device_train_batch_size=2,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        dataset_num_proc=None,
        **config,
    )
    model = tiny_llama(len(tokenizer), tokenizer.pad_token_id or tokenizer.eos_token_id)
    return trl.SFTTrainer(model=model, args=args, train_dataset=train, processing_class=tokenizer)


def differing(ours, prepared) -> int:
    """Rows whose (input_ids, labels) differ between our dataset and TRL's prepared one."""
    assert len(prepared) == len(ours)
    return sum((a["input_ids"], a["labels"]) != (b["input_ids"], b["labels"]) for a, b in zip(ours, prepared))


@pytest.mark.parametrize("name", sorted(RUNS))
def test_pre_tokenized_hf_is_trained_as_is(sample_output, tmp_path, name):
    hf, tokenizer_dir = sample_output(name)
    trainer = sft_trainer(tmp_path, tokenizer_dir, hf["train"])
    assert differing(hf["train"], trainer.train_dataset) == 0
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
    for i in range(4):
        n = len(hf["train"][i]["labels"])
        assert batch["labels"][i, :n].tolist() == hf["train"][i]["labels"]
        assert set(batch["labels"][i, n:].tolist()) <= {IGNORE}
    if name == TRAINED:
        trainer.train()
        assert trainer.state.global_step == 1


@pytest.mark.parametrize("name", sorted(RUNS))
def test_prompt_completion_columns_train_our_labels(sample_output, tmp_path, name):
    """TRL masks `len(common prefix of tokenizer(prompt) and tokenizer(prompt + completion))` tokens:
    our labels exactly when the boundary is token-aligned and `completion` is the trained span."""
    hf, tokenizer_dir = sample_output(name)
    train = hf["train"].select_columns(["prompt", "completion"])
    trainer = sft_trainer(tmp_path, tokenizer_dir, train)
    assert trainer.completion_only_loss
    assert differing(hf["train"], trainer.train_dataset) == 0
    tokenize = trainer.processing_class
    for row in hf["train"]:  # strictly a prefix: no TRL warning, and what a server sends is what was trained
        prompt_ids = tokenize(row["prompt"])["input_ids"]
        assert row["input_ids"][: len(prompt_ids)] == prompt_ids
        assert row["labels"][len(prompt_ids) - 1] == IGNORE != row["labels"][len(prompt_ids)]
    if name == TRAINED:
        trainer.train()
        assert trainer.state.global_step == 1


def test_packed_rows_train_padding_free(sample_output, tmp_path):
    """--packing output with TRL's padding-free collator: its prepared rows are ours, the batch holds
    our labels with positions restarting at every packed example, and the model sees each example
    as if alone (transformers builds a block-diagonal mask from those positions)."""
    torch = require("torch")
    hf, tokenizer_dir = sample_output(TRAINED, packing=True, max_seq_length=1024)
    plain, _ = sample_output(TRAINED)
    train = hf["train"]
    assert len(train) < len(plain["train"]) and max(len(r["seq_lengths"]) for r in train) > 1
    trainer = sft_trainer(tmp_path, tokenizer_dir, train, padding_free=True)
    assert differing(train, trainer.train_dataset) == 0
    rows = [trainer.train_dataset[i] for i in range(2)]
    batch = trainer.data_collator(rows)
    assert batch["input_ids"][0].tolist() == rows[0]["input_ids"] + rows[1]["input_ids"]
    assert batch["labels"][0].tolist() == rows[0]["labels"] + rows[1]["labels"]  # BOS: already -100
    starts = [list(range(n)) for r in rows for n in r["seq_lengths"]]
    assert batch["position_ids"][0].tolist() == [p for s in starts for p in s]

    model = trainer.model.eval()
    with torch.no_grad():
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"]).logits[0]
        at = 0
        for r in rows:
            for n in r["seq_lengths"]:
                alone = model(input_ids=batch["input_ids"][:, at : at + n]).logits[0]
                assert torch.allclose(packed[at : at + n], alone, atol=1e-5)
                at += n
    model.train()
    trainer.train()
    assert trainer.state.global_step == 1
