"""Each PTransform of beam_prep/pipeline tested as a transform: a TestPipeline on small inline data,
`assert_that` on what comes out, and the counters it reports.

References are independent of the code under test: the tokenizer itself (transformers'
AutoTokenizer through TextEncoder.encode_text) for token columns, the input records for ids and
reasons, the files on disk for what the writers wrote.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to, is_not_empty

from beam_prep.config import BUNDLED_TOKENIZER, RunConfig
from beam_prep.core.conversation import parse_conversation_key
from beam_prep.core.explode import explode
from beam_prep.core.loading import FitterSpec
from beam_prep.core.normalize import DEFAULT_POLICY
from beam_prep.core.readers import WHOLE
from beam_prep.core.records import Dialogue, Example, Part, Reject, Turn
from beam_prep.core.stats import Outcome, Stat
from beam_prep.core.templates import load_template
from beam_prep.core.tokenizer import TextEncoder
from beam_prep.io.commit import SUCCESS
from beam_prep.io.results import KeyedRow, Position, RejectsWritten, ShardWritten
from beam_prep.io.shard_writer import write_shard
from beam_prep.manifest import manifest_for
from beam_prep.pipeline.admit import AdmitDialogues
from beam_prep.pipeline.compact import CompactShards
from beam_prep.pipeline.duplicates import PlanDuplicates
from beam_prep.pipeline.finalize import Finalize
from beam_prep.pipeline.pack import PackRows
from beam_prep.pipeline.read import PARTS, REJECTS, FileParts, ReadDialogues
from beam_prep.pipeline.rejoin import RejoinConversations, SplitConversations
from beam_prep.pipeline.render import RenderExamples
from beam_prep.pipeline.shuffle import GroupPacked
from beam_prep.pipeline.stats import STATS, MergeCounters
from beam_prep.pipeline.truncate import TruncateExamples
from beam_prep.pipeline.worker import WorkerSpec
from beam_prep.pipeline.write import WriteRejects, WriteShards

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def pipeline() -> BeamTestPipeline:
    """An in-process pipeline (the FnApiRunner): Beam's DirectRunner would try to download Prism."""
    return BeamTestPipeline(runner="FnApiRunner")


def spec(max_seq_length: int = 4096, template: str = "llama2-chat-memory") -> WorkerSpec:
    return WorkerSpec(FitterSpec(load_template(template), max_seq_length), BUNDLED_TOKENIZER)


def talk(id: str, *contents: str, line: int = 1) -> Dialogue:
    turns = tuple(Turn("user" if i % 2 == 0 else "assistant", c) for i, c in enumerate(contents))
    return Dialogue(id, turns, "inline.jsonl", line)


def merged(counters) -> dict:
    """The counters a transform emitted, merged as the pipeline merges them."""
    return counters | beam.CombineGlobally(MergeCounters())


def counts_equal(expected: dict):
    """A matcher: the merged counters hold these keys with these values (other keys may exist)."""

    def check(actual):
        [counts] = actual
        got = {k: counts.get(k, 0) for k in expected}
        if got != expected:
            raise AssertionError(f"counters {got} != {expected}")

    return check


def test_read_dialogues_normalises_splits_and_rejects(tmp_path):
    records = [
        {"id": "a", "messages": [{"role": "user", "content": " hi "}, {"role": "assistant", "content": "yo"}]},
        {"id": "b", "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "r"}]},
        {"id": "c", "messages": [{"role": "user", "content": "only a question"}]},
        {"id": "Xk9pQ2a_0", "conversations": [{"from": "human", "value": "part"}, {"from": "gpt", "value": "one"}]},
    ]
    lines = [json.dumps(r) for r in records] + ["{broken"]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pipeline() as p:
        key = parse_conversation_key("auto")
        out = p | ReadDialogues([str(path)], str(tmp_path), "auto", 0, 0.0, DEFAULT_POLICY, conversation_key=key)
        assert_that(
            out.dialogues | "Dialogues" >> beam.Map(lambda d: (d.id, d.turns, d.split)),
            equal_to(
                [
                    ("a", (Turn("user", "hi"), Turn("assistant", "yo")), "train"),
                    ("b", (Turn("user", "q"), Turn("assistant", "r")), "train"),
                ]
            ),
            label="dialogues",
        )
        assert_that(
            out[PARTS] | "Parts" >> beam.Map(lambda kv: (kv[0], kv[1].number, kv[1].dialogue.line)),
            equal_to([("Xk9pQ2a", 0, 4)]),
            label="parts",
        )
        assert_that(
            out[REJECTS] | "Reasons" >> beam.Map(lambda r: (r.reason, r.line)),
            equal_to([("no_assistant_turn", 3), ("invalid_json", 5)]),
            label="rejects",
        )
        read = Stat(Outcome.RECORD_READ, "in.jsonl")
        rejected = Stat(Outcome.RECORD_REJECTED, "in.jsonl", reason="invalid_json")
        part = Stat(Outcome.PART, "in.jsonl")
        assert_that(merged(out[STATS]), counts_equal({read: 5, rejected: 1, part: 1}), label="counts")


def test_file_parts_cuts_a_big_jsonl_file_at_line_starts(tmp_path):
    """Parts of about chunk_bytes, each starting at a line start with that line's number; together
    they cover the file once. A small file is one part (the whole file)."""
    lines = [json.dumps({"id": f"r{i}", "pad": "x" * (i % 7) * 10}) for i in range(60)]
    big, small = tmp_path / "big.jsonl", tmp_path / "small.jsonl"
    big.write_text("\n".join(lines) + "\n", encoding="utf-8")
    small.write_text(lines[0] + "\n", encoding="utf-8")
    data = big.read_bytes()
    starts = [0] + [i + 1 for i, b in enumerate(data) if b == ord("\n")][:-1]  # byte offset of each line

    def check(url_parts):
        parts = sorted((p for url, p in url_parts if url == str(big)), key=lambda p: p.start)
        assert len(parts) > 2 and [p for url, p in url_parts if url == str(small)] == [WHOLE]
        assert parts[0].start == 0 and parts[-1].end in (None, len(data))
        assert all(a.end == b.start for a, b in zip(parts, parts[1:]))  # contiguous, no overlap
        for p in parts[1:]:
            assert p.start in starts and p.first == starts.index(p.start) + 1

    with pipeline() as p:
        out = p | FileParts([str(big), str(small)], str(tmp_path), 500)
        assert_that(out.parts, check, label="parts")
        read = {Stat(Outcome.FILE_READ, "big.jsonl"): 1, Stat(Outcome.FILE_READ, "small.jsonl"): 1}
        assert_that(merged(out.stats), counts_equal(read), label="counts")


def test_split_conversations_names_the_conversations_of_several_records(tmp_path):
    def sharegpt(id: str) -> str:
        return json.dumps({"id": id, "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]})

    path = tmp_path / "in.jsonl"
    ids = ["QWJhYvA_0", "b", "Xk9pQ2a_0", "QWJhYvA_1", "user_1", "user_2"]  # user_N: dialogues of their own
    path.write_text("\n".join(map(sharegpt, ids)) + "\n{broken\n", encoding="utf-8")
    with pipeline() as p:
        out = p | SplitConversations([str(path)], str(tmp_path), 64 << 20, 0, parse_conversation_key("auto"))
        assert_that(out, equal_to([("QWJhYvA", True)]))


def _admitted(p, dialogues: list[Dialogue], mode: str = "per_response"):
    created = p | "Dialogues" >> beam.Create(dialogues)
    plan = (created, p | "NoneJoined" >> beam.Create([])) | PlanDuplicates(mode)
    return created | AdmitDialogues(mode, plan)


def test_admit_dialogues_explodes_and_drops_copies():
    """Copies of an example are written once; the copy kept is the first by (conversation, id)."""
    a = talk("a", "u1", "a1", "u2", "a2", line=1)
    b = talk("b", "u1", "a1", "u2", "other", line=2)  # shares a's first example only
    with pipeline() as p:
        out = _admitted(p, [b, a])
        assert_that(
            out.examples | "Examples" >> beam.Map(lambda e: (e.dialogue.id, e.start, e.end, e.trained)),
            equal_to([("a", 0, 1, (1,)), ("a", 0, 3, (3,)), ("b", 0, 3, (3,))]),
            label="examples",
        )
        assert_that(
            out[REJECTS] | "Why" >> beam.Map(lambda r: (r.reason, r.dialogue_id, r.detail)),
            equal_to([("duplicate", "b", "a/1")]),
            label="rejects",
        )
        kept = Stat(Outcome.RECORD_KEPT, "inline.jsonl")
        dropped = Stat(Outcome.EXAMPLE_REJECTED, "inline.jsonl", reason="duplicate")
        assert_that(merged(out[STATS]), counts_equal({kept: 2, dropped: 1}), label="counts")


def test_admit_dialogues_whole_dialog():
    with pipeline() as p:
        out = _admitted(p, [talk("d1", "u1", "a1", "u2", "a2", "u3")], "whole_dialog")
        assert_that(out.examples | beam.Map(lambda e: (e.turn_index, e.end, e.trained)), equal_to([(-1, 3, (1, 3))]))


def test_rejoin_conversations_joins_consecutive_parts_in_order():
    parts = [
        ("c", Part("c", 1, talk("c_1", "more", "answer two", line=2))),
        ("c", Part("c", 0, talk("c_0", "first", "answer one", line=1))),
        ("c", Part("c", 3, talk("c_3", "after a gap", "answer four", line=3))),
    ]
    with pipeline() as p:
        out = p | beam.Create(parts) | RejoinConversations(DEFAULT_POLICY, seed=0, val_fraction=0.0)
        assert_that(
            out.dialogues | beam.Map(lambda d: (d.id, [t.content for t in d.turns], d.conversation)),
            equal_to(
                [
                    ("c_0-1", ["first", "answer one", "more", "answer two"], "c"),
                    ("c_3", ["after a gap", "answer four"], "c"),
                ]
            ),
            label="dialogues",
        )
        counts = {Stat(Outcome.CONVERSATION): 1, Stat(Outcome.GAP): 1}
        assert_that(merged(out[STATS]), counts_equal(counts), label="counts")


@pytest.mark.parametrize("compress", [False, True])
def test_group_packed_groups_like_group_by_key_and_gives_the_values_back(compress):
    """The values cross the shuffle as bytes; what comes out is the named values, grouped."""
    one, two = Part("c", 0, talk("c_0", "first", "answer one")), Part("c", 1, talk("c_1", "more", "two"))
    pairs = [("c", one), ("d", two), ("c", two)]
    with pipeline() as p:
        grouped = p | beam.Create(pairs) | GroupPacked(compress)
        assert_that(
            grouped | beam.MapTuple(lambda k, vs: (k, sorted((v.number, v.dialogue.id) for v in vs))),
            equal_to([("c", [(0, "c_0"), (1, "c_1")]), ("d", [(1, "c_1")])]),
            label="groups",
        )
        assert_that(grouped | beam.FlatMap(lambda kv: kv[1]) | beam.Filter(lambda v: v == one), equal_to([one]))


def _examples(dialogues: list[Dialogue]) -> list[Example]:
    return [ex for d in dialogues for ex in explode(d, "per_response")]


def test_truncate_examples_fits_the_budget_and_rejects_what_cannot_fit():
    long_answer = " ".join(["memory"] * 300)
    dialogues = [talk("d1", "hello", "hi there", "how are you", "fine"), talk("d2", "tell me", long_answer)]
    budget = 64
    encoder = TextEncoder(BUNDLED_TOKENIZER)
    with pipeline() as p:
        out = p | beam.Create(_examples(dialogues)) | TruncateExamples(spec(budget), "per_response", batch_dialogues=1)
        kept = out.examples | "Kept" >> beam.Map(lambda e: (e.id, len(e.input_ids) <= budget, e.dropped_turns))
        assert_that(kept, equal_to([("d1/1", True, 0), ("d1/3", True, 0)]), label="kept")
        assert_that(
            out[REJECTS] | "Why" >> beam.Map(lambda r: (r.reason, r.dialogue_id)),
            equal_to([("too_long", "d2")]),
            label="rejects",
        )
        assert_that(
            merged(out[STATS]),
            counts_equal(
                {
                    Stat(Outcome.EXAMPLE, "inline.jsonl", "train"): 2,
                    Stat(Outcome.EXAMPLE_REJECTED, "inline.jsonl", reason="too_long"): 1,
                }
            ),
            label="counts",
        )
    # The budget check is against the real tokenizer's count of the whole dialogue: d2 cannot fit.
    assert len(encoder.encode_text(long_answer)) > budget


def test_render_examples_rows_match_the_tokenizer():
    dialogues = [talk("d1", "hello", "hi there", "how are you", "fine, thanks")]
    encoder = TextEncoder(BUNDLED_TOKENIZER)

    def check(rows):
        assert sorted(r["id"] for _, _, r in rows) == ["d1/1", "d1/3"]
        for split, _, row in rows:
            assert split == "train"
            assert list(row["input_ids"]) == encoder.encode_text(row["text"])  # the tokenizer itself
            assert row["text"] == row["prompt"] + row["completion"]
            assert row["completion"].lstrip().startswith(dialogues[0].turns[row["turn_index"]].content)
            prompt = encoder.encode_text(row["prompt"])  # the prompt is a token prefix; the rest is trained
            assert list(row["input_ids"][: len(prompt)]) == prompt
            assert set(row["labels"][: len(prompt)]) == {-100} and -100 not in row["labels"][len(prompt) :]
            assert row["num_tokens"] == len(row["input_ids"]) == len(row["labels"])

    with pipeline() as p:
        fitted = p | beam.Create(_examples(dialogues)) | TruncateExamples(spec(), "per_response")
        rendered = fitted.examples | RenderExamples(spec())
        assert_that(rendered.rows, check, label="rows")
        assert_that(rendered[REJECTS], equal_to([]), label="rejects")


def _row(i: int, n: int = 8, split: str = "train") -> KeyedRow:
    from array import array

    row = {
        "id": f"d{i}/1",
        "dialogue_id": f"d{i}",
        "turn_index": 1,
        "prompt": "p",
        "completion": "c",
        "text": "pc",
        "num_tokens": n,
        "context_turns": 0,
        "dropped_turns": 0,
        "input_ids": array("i", range(n)),
        "labels": array("i", [-100] * (n // 2) + list(range(n - n // 2))),
    }
    return KeyedRow(split, Position("inline.jsonl", i, 1), row)


@pytest.mark.parametrize("num_shards", [0, 2])
def test_write_shards_writes_every_row_once(tmp_path, num_shards):
    rows = [_row(i) for i in range(10)] + [_row(i, split="validation") for i in range(10, 13)]
    tmp = str(tmp_path / "tmp")

    def check(results):
        per_split = Counter()
        for w in results:
            assert isinstance(w, ShardWritten)
            per_split[w.split] += w.rows
            table = pq.read_table(Path(tmp) / w.paths.parquet)
            assert table.num_rows == w.rows
        assert per_split == {"train": 10, "validation": 3}

    with pipeline() as p:
        written = p | beam.Create(rows) | WriteShards(tmp, num_shards, tokens_per_shard=1000)
        assert_that(written.shards, check, label="shards")
        assert_that(written[REJECTS], equal_to([]), label="rejects")


def test_compact_shards_merges_the_small_shards_of_a_split(tmp_path):
    """Small shards of a split are merged in naming order (by the position of their first row); a
    full shard, and a split's only shard, are left as they are."""
    tmp = str(tmp_path / "tmp")
    small = [_row(i, 10) for i in range(6)]  # 3 shards of 2 rows, 20 tokens each
    shards = [
        write_shard(tmp, "train", [r.row for r in pair], [r.position for r in pair])[0]
        for pair in (small[4:6], small[0:2], small[2:4])
    ]
    full = write_shard(tmp, "train", [_row(9, 60).row], [_row(9, 60).position])[0]
    alone = write_shard(tmp, "validation", [_row(7, 10, "validation").row], [Position("inline.jsonl", 7, 1)])[0]

    def check(results):
        by_split = Counter(w.split for w in results)
        assert by_split == {"train": 3, "validation": 1}  # 6 small rows: 40 + 20 tokens, then the full one
        assert full in results and alone in results
        merged_ids = [pq.read_table(Path(tmp) / w.paths.parquet).column("id").to_pylist() for w in results]
        rows = sorted(x for ids in merged_ids for x in ids)
        assert rows == sorted(r.row["id"] for r in small) + ["d7/1", "d9/1"]
        assert ["d0/1", "d1/1", "d2/1", "d3/1"] in merged_ids and ["d4/1", "d5/1"] in merged_ids

    with pipeline() as p:
        out = p | beam.Create(shards + [full, alone]) | CompactShards(tmp, tokens_per_shard=40)
        assert_that(out, check)


def test_write_rejects_one_line_per_reject_in_input_order(tmp_path):
    rejects = [Reject("invalid_json", "b.jsonl", 2), Reject("too_long", "a.jsonl", 9), Reject("bad_turn", "a.jsonl", 3)]
    tmp = str(tmp_path / "tmp")

    def check(results):
        [w] = results
        assert isinstance(w, RejectsWritten) and w.rows == 3
        lines = [json.loads(x) for x in (Path(tmp) / w.path).read_text().splitlines()]
        assert [(r["source"], r["line"], r["reason"]) for r in lines] == [
            ("a.jsonl", 3, "bad_turn"),
            ("a.jsonl", 9, "too_long"),
            ("b.jsonl", 2, "invalid_json"),
        ]

    with pipeline() as p:
        assert_that(p | beam.Create(rejects) | WriteRejects(tmp), check)


def test_pack_rows_fills_rows_and_keeps_every_example():
    rows = [_row(i, n) for i, n in enumerate([30, 50, 20, 70, 40, 10])] + [_row(9, 25, split="validation")]

    def check(packed):
        for _, _, row in packed:
            assert sum(row["seq_lengths"]) == len(row["input_ids"]) == len(row["labels"]) <= 100
        assert sorted(i for _, _, row in packed for i in row["id"]) == sorted(r["id"] for _, _, r in rows)
        assert [split for split, _, row in packed if "d9/1" in row["id"]] == ["validation"]  # never mixed
        assert len([1 for split, _, _ in packed if split == "train"]) == 3  # 220 tokens: 3 rows of 100

    with pipeline() as p:
        assert_that(p | beam.Create(rows) | PackRows(100), check)


def test_merge_counters_adds_bundles():
    with pipeline() as p:
        bundles = [Counter({("examples", "train"): 2}), Counter({("examples", "train"): 3, ("dialogues", "train"): 1})]
        out = p | beam.Create(bundles) | beam.CombineGlobally(MergeCounters())
        assert_that(out, equal_to([{("examples", "train"): 5, ("dialogues", "train"): 1}]))


def test_finalize_commits_the_output(tmp_path):
    out_dir = tmp_path / "out"
    tmp = str(out_dir / "_temporary" / "run")
    config = RunConfig(input=["inline.jsonl"], output=str(out_dir))
    manifest = manifest_for(config, load_template(config.template), ["inline.jsonl"], "run")
    counts = {
        Stat(Outcome.RECORD_READ, "inline.jsonl"): 3,
        Stat(Outcome.RECORD_KEPT, "inline.jsonl"): 3,
        Stat(Outcome.EXAMPLE, "inline.jsonl", "train"): 3,
    }
    with pipeline() as p:
        written = (p | "Rows" >> beam.Create([_row(i) for i in range(3)]) | WriteShards(tmp)).shards
        rejected = p | "Rejects" >> beam.Create([Reject("invalid_json", "inline.jsonl", 4)]) | WriteRejects(tmp)
        stats = (written, rejected, p | "Counts" >> beam.Create([counts])) | Finalize(str(out_dir), tmp, manifest)
        assert_that(stats, is_not_empty())
    assert (out_dir / SUCCESS).exists() and not (out_dir / "_temporary").exists()
    assert pq.read_table(out_dir / "parquet" / "train-00000-of-00001.parquet").num_rows == 3
    assert json.loads((out_dir / "stats.json").read_text())["records"]["read"] == 3
    assert len((out_dir / "rejects" / "rejects-00000-of-00001.jsonl").read_text().splitlines()) == 1


def test_the_worker_spec_carries_the_identity_of_the_tokenizer_check_loaded(tmp_path):
    from beam_prep.checks import check
    from beam_prep.job import worker_spec

    (tmp_path / "in.jsonl").write_text(
        json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}) + "\n"
    )
    config = RunConfig(input=[str(tmp_path / "in.jsonl")], output=str(tmp_path / "out"))
    made = worker_spec(config, check(config, write_probe=False))
    assert made.encoder == TextEncoder(BUNDLED_TOKENIZER).identity
    assert made.build().encoder.identity == made.encoder


def test_render_asks_whether_a_dialogue_is_structured_once_per_dialogue(monkeypatch):
    from beam_prep.core.fit import window_text
    from beam_prep.pipeline.render import _Render

    fn = _Render(spec())
    fn.setup()
    fitter = fn._fitter
    turns = tuple(Turn("user" if i % 2 == 0 else "assistant", f"turn {i} " * 5) for i in range(12))
    d = Dialogue("long", turns, "a.jsonl", 1)
    examples = [e for e in fitter.fit([(d, explode(d, "per_response"))], "per_response") if isinstance(e, Example)]
    asked = []
    real = Dialogue.structured
    monkeypatch.setattr(Dialogue, "structured", property(lambda self: asked.append(self.id) or real.fget(self)))
    rows = [r.row for e in examples for r in fn.process(e)]
    assert asked == ["long"] and len(rows) == 6
    assert [r["text"] for r in rows] == [window_text(fitter, e, False)[0] for e in examples]


def test_tool_call_targets_count_only_examples_that_render(monkeypatch):
    """stats.json's tool_call_targets counts targets of written rows: an example that fails to
    render is a reject, and its tool call is not counted."""
    import beam_prep.pipeline.render as render
    from beam_prep.core.normalize import normalize
    from beam_prep.core.records import RawRecord
    from tests.templates.helpers import TOKENIZERS
    from tests.templates.test_tool_templates import WEATHER, exchange

    record = {"id": "t", "tools": [WEATHER], "messages": exchange(1)}
    d = normalize(RawRecord("a.jsonl", 1, record))[0]
    tool_spec = WorkerSpec(FitterSpec(load_template("qwen2.5"), 4096), TOKENIZERS["qwen2.5"])

    def stats_of(fn, examples):
        fn.start_bundle()
        outputs = [o for e in examples for o in fn.process(e)]
        counts = Counter()
        for c in fn.finish_bundle():
            counts.update(c.value.value)
        return outputs, counts

    fn = render._Render(tool_spec)
    fn.setup()
    examples = [e for e in fn._fitter.fit([(d, explode(d, "per_response"))], "per_response") if isinstance(e, Example)]
    assert len(examples) == 2  # the call, then the answer
    outputs, counts = stats_of(fn, examples)
    assert len(outputs) == 2 and counts[Stat(Outcome.TOOL_CALL_TARGET, split=d.split)] == 1

    def broken(*args):
        raise ValueError("cannot render")

    monkeypatch.setattr(render, "window_text", broken)
    outputs, counts = stats_of(fn, examples)
    assert all(o.tag == REJECTS for o in outputs)
    assert counts[Stat(Outcome.TOOL_CALL_TARGET, split=d.split)] == 0
