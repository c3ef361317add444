"""The run configuration: one dataclass is the schema; YAML fills it, flags override, and the
resolved config is written to manifest.json. Mistakes are ConfigError, caught before any work."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from beam_prep.core.conversation import ConversationKey, parse_conversation_key
from beam_prep.core.explode import MODES
from beam_prep.core.failures import INTERNAL_ERROR_CHOICES
from beam_prep.core.limits import RECORD_MB
from beam_prep.core.loading import FitterSpec
from beam_prep.core.normalize import INPUT_FORMATS, POLICY_CHOICES, Policy, parse_role_map
from beam_prep.core.structured import REASONING_POLICIES
from beam_prep.core.templates import TemplateSpec

BUNDLED_TOKENIZER = str(Path(__file__).parent / "resources" / "tokenizer" / "mistral-7b-v0.1")
BUNDLED_SAMPLE = str(Path(__file__).parent / "resources" / "sample")
SPECIAL_POLICIES = ("reject", "keep")
TRAIN_TARGET_POLICIES = ("keep", "drop")  # --validation_train_targets
DUPLICATE_POLICIES = ("drop", "keep")  # --duplicates
PIPELINE_OPTIONS_KEY = "pipeline_options"


class ConfigError(ValueError):
    """A configuration mistake: the message names the bad value and the fix (exit code 2)."""


def flag(default=None, help: str = "", choices: tuple | None = None, *, factory=None, **readme):
    """A RunConfig field with its flag's description: `help` (--help), `choices` (checked by
    `RunConfig.validate`), and for the README's flag table (cli.flag_table): `doc` (markdown, default
    `help`), `arg` (the value's name, e.g. N) and `shown_default` (where the value itself says little)."""
    metadata = {"help": help, "choices": choices, **readme}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


_INPUT_DOC = "[docs/input.md](docs/input.md)"


def _policy_flag(name: str, doc: str):
    """A normalisation policy's field: its default is Policy's, its choices POLICY_CHOICES[name]; `doc`
    (markdown) is the README's text with a link to docs/input.md, and without its backticks the --help."""
    default = next(f.default for f in dataclasses.fields(Policy) if f.name == name)
    return flag(default, doc.replace("`", ""), POLICY_CHOICES[name], doc=f"{doc} ({_INPUT_DOC})")


@dataclass
class RunConfig:
    input: list[str] = flag(
        help="input files: globs of .jsonl, .json (array) or .parquet, optionally .gz; local, s3://, gs://",
        factory=list,
        doc=".jsonl, .json (array), .parquet, each optionally .gz; local, s3://, gs://",
        arg="GLOB [GLOB ...]",
        shown_default="required",
    )
    output: str = flag(
        "",
        "output folder or s3:// / gs:// URL",
        doc="where everything is written",
        arg="DIR_OR_URL",
        shown_default="required",
    )
    input_format: str = flag(
        "auto",
        "schema of the records: messages, sharegpt or auto (per record)",
        INPUT_FORMATS,
        doc="the schema of the records (`auto`: decided per record)",
    )
    template: str = flag(
        "llama2-chat-memory",
        "a template name (see `beam_prep templates`) or a path to a .jinja file",
        doc="a name from `templates/` or a path to a `.jinja` file",
        arg="NAME_OR_PATH",
    )
    mode: str = flag(
        "per_response",
        "per_response: one example per assistant turn; whole_dialog: one per dialogue",
        MODES,
        doc="`per_response`: one example per assistant turn; `whole_dialog`: one per dialogue",
    )
    system_prompt: str | None = flag(
        None,
        "system prompt for dialogues without one (default: the template's)",
        doc="system prompt where the dialogue has none",
        arg="TEXT",
        shown_default="the template's default",
    )
    tokenizer: str = flag(
        BUNDLED_TOKENIZER,
        "Hugging Face tokenizer folder (tokenizer.json), local or s3:// / gs://",
        doc="a Hugging Face tokenizer folder (tokenizer.json, tokenizer_config.json)",
        arg="PATH_OR_URL",
        shown_default="bundled Mistral-7B-v0.1",
    )
    max_seq_length: int = flag(4096, "token budget of one example, BOS/EOS included", arg="N")
    val_fraction: float = flag(0.05, "share of dialogues in the validation split, in [0, 1)", arg="F")
    seed: int = flag(0, "seed of the train/validation split hash", arg="N")
    special_tokens_in_content: str = flag(
        "reject",
        "dialogues whose text holds special-token strings: reject or keep "
        "(also a --system_prompt holding one: an error, or kept)",
        SPECIAL_POLICIES,
        doc="`reject` or `keep` dialogues whose text contains special-token strings (a `--system_prompt` with "
        "one: an error, or kept)",
    )
    reasoning: str = flag(
        "train",
        "a target's reasoning (reasoning_content, <think>): train it as the template renders it, "
        "or drop it from targets",
        REASONING_POLICIES,
        doc="`train` a target's reasoning (`reasoning_content`, `<think>` in the content) as its template renders "
        "it, or `drop` it from targets ([docs/input.md](docs/input.md#tools-tool-calls-weights-and-reasoning))",
    )
    num_shards: int = flag(
        0,
        "output shards per split with the same contents on every runner (0: written as rows come, "
        "a new shard every --tokens_per_shard tokens)",
        doc="output shards per split, with the same contents on every runner; 0: each worker writes its rows as "
        "they come, a new shard every `--tokens_per_shard` tokens ([docs/scaling.md](docs/scaling.md))",
        arg="N",
    )
    tokens_per_shard: int = flag(
        5_000_000,
        "tokens per output shard when --num_shards is 0 (short shards are merged: at most "
        "ceil(tokens / N) + 1 per split)",
        doc="tokens per output shard when `--num_shards` is 0 (the short shards bundle ends leave are merged: at "
        "most ceil(tokens / N) + 1 shards per split)",
        arg="N",
    )
    batch_dialogues: int = flag(64, "dialogues tokenized together in one batch", arg="N")
    packing: bool = flag(
        False,
        "pack several examples into each row of at most --max_seq_length tokens (best-fit decreasing, "
        "seq_lengths column, for padding-free training)",
        doc="pack several examples into each row of at most `--max_seq_length` tokens, for padding-free training "
        "([Packing](#packing)); with `--num_shards 0`",
    )
    input_chunk_mb: float = flag(
        64.0,
        "a big JSONL or Parquet input file is read by several workers, in parts of about this size",
        doc="a big `.jsonl` (or `.jsonl.gz`) file is read by several workers in parts of about this size; a "
        "`.parquet` file by groups of row groups",
        arg="MB",
    )
    # Normalisation policies: default and choices are core/normalize.py's Policy and POLICY_CHOICES.
    same_role_turns: str = _policy_flag(
        "same_role_turns", "consecutive turns of one role: `merge` (joined by a blank line) or `reject` (`bad_turn`)"
    )
    empty_turns: str = _policy_flag("empty_turns", "turns empty after stripping: `drop` or `reject` (`bad_turn`)")
    leading_assistant: str = _policy_flag(
        "leading_assistant", "assistant turns before the first user turn: `drop` or `reject` (`bad_turn`)"
    )
    unknown_roles: str = _policy_flag(
        "unknown_roles",
        "turns whose role is neither known nor in `--role_map`: `reject` (`unknown_role`) or `skip`",
    )
    role_map: str | dict = flag(
        "",
        "extra roles, e.g. function_result=tool,notes=skip (targets: system, user, assistant, tool, skip)",
        doc="extra roles, e.g. `function_result=tool,notes=skip` (targets: `system`, `user`, `assistant`, `tool`, "
        f"`skip`); in YAML a mapping works too ({_INPUT_DOC})",
        arg="ROLE=TARGET,...",
        shown_default="none",
    )
    conversation_key: str = flag(
        "auto",
        "records of one conversation, rejoined in order: auto (ShareGPT ids QWJhYvA_0, _1...), "
        "none, id_suffix (any id <base>_<n>), field:NAME or field:NAME:ORDER",
        doc="which records are one conversation, rejoined in order before the split: `auto` (ShareGPT-style ids "
        "`QWJhYvA_0`, `_1`, ... in the ShareGPT schema; never word-like bases such as `user_17`), `none`, "
        f"`id_suffix` (any `<base>_<n>`), `field:NAME[:ORDER]` ({_INPUT_DOC})",
    )
    duplicates: str = flag(
        "drop",
        "an example whose memory and target equal another's: drop (written once) or keep every copy",
        DUPLICATE_POLICIES,
        doc="`drop`: an example whose memory and target equal another's is written once (the rest: `duplicate` "
        "rejects); `keep`",
    )
    validation_train_targets: str = flag(
        "keep",
        "validation examples whose target is also trained verbatim: keep or drop",
        TRAIN_TARGET_POLICIES,
        doc="`keep` or `drop` validation examples whose target is also trained verbatim (other memory); counted "
        "either way",
    )
    max_record_mb: float = flag(
        RECORD_MB,
        "a longer input line (.json value) is rejected unread as record_too_large",
        doc="an input line (a `.json` value) longer than this is rejected unread as `record_too_large`; a worker "
        "holds at most this much of one line",
        arg="MB",
    )
    internal_errors: str = flag(
        "reject",
        "a record beam_prep itself fails on: reject it (internal_error, counted) or fail the run",
        INTERNAL_ERROR_CHOICES,
        doc="a record beam_prep itself fails on (a bug): `reject` it as `internal_error` (counted, shown first in "
        "the summary) or `fail` the run",
    )
    verbose: bool = flag(False, "show Beam's own INFO logging")
    dry_run: bool = flag(
        False,
        "build and translate the job for the runner (Dataflow: Beam's own dry run), print its stages "
        "and where the output would go, write nothing",
        doc="build and translate the job for the runner (Dataflow: Beam's own dry run), print its stages and "
        "where the output would go; nothing is written",
    )
    pipeline_options: dict = field(default_factory=dict)  # YAML only: Beam's options (pipeline_args)

    def validate(self) -> RunConfig:
        if not self.input:
            raise ConfigError("--input is required: one or more globs of .jsonl/.json/.parquet files")
        if not self.output:
            raise ConfigError("--output is required: a folder or s3:// / gs:// URL to write to")
        for name, f in FIELDS.items():
            if f.metadata.get("choices"):
                _choice(name, getattr(self, name), f.metadata["choices"])
        if not isinstance(self.max_record_mb, (int, float)) or not self.max_record_mb > 0:
            raise ConfigError(f"--max_record_mb must be a positive number, got {self.max_record_mb!r}")
        if not isinstance(self.max_seq_length, int) or self.max_seq_length <= 0:
            raise ConfigError(f"--max_seq_length must be a positive integer, got {self.max_seq_length!r}")
        if not isinstance(self.val_fraction, (int, float)) or not 0 <= self.val_fraction < 1:
            raise ConfigError(f"--val_fraction must be in [0, 1), got {self.val_fraction!r}")
        if self.num_shards < 0:
            raise ConfigError(f"--num_shards must be >= 0 (0 = automatic), got {self.num_shards}")
        if self.packing and self.num_shards:
            raise ConfigError("--packing writes shards as rows come: use it with --num_shards 0")
        if self.tokens_per_shard <= 0 or self.batch_dialogues <= 0:
            raise ConfigError("--tokens_per_shard and --batch_dialogues must be positive")
        if not isinstance(self.input_chunk_mb, (int, float)) or not self.input_chunk_mb > 0:
            raise ConfigError(f"--input_chunk_mb must be a positive number, got {self.input_chunk_mb!r}")
        self.policy()
        self.conversation_key_spec()
        return self

    def conversation_key_spec(self) -> ConversationKey:
        """The parsed --conversation_key; ConfigError naming the flag and the bad value."""
        try:
            return parse_conversation_key(self.conversation_key)
        except ValueError as exc:
            raise ConfigError(f"--conversation_key {exc}") from None

    def policy(self) -> Policy:
        """The normalisation policy; ConfigError naming the flag of a bad choice or --role_map entry."""
        for name, allowed in POLICY_CHOICES.items():
            _choice(name, getattr(self, name), allowed)
        try:
            role_map = parse_role_map(self.role_map)
        except ValueError as exc:
            raise ConfigError(f"--role_map {exc}") from None
        return Policy(self.same_role_turns, self.empty_turns, self.leading_assistant, self.unknown_roles, role_map)

    def fitter_spec(self, template: TemplateSpec) -> FitterSpec:
        """What this run's Fitter is made of, with `template` (already loaded and checked)."""
        return FitterSpec(template, self.max_seq_length, self.system_prompt, self.reasoning)

    def to_manifest(self) -> dict:
        return dataclasses.asdict(self)


def _choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ConfigError(f"--{name} {value!r} is not one of: {', '.join(allowed)}")


FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}


def load_yaml(path: str) -> dict:
    """Keys of a run_configs/*.yaml: our flag names, plus `pipeline_options` for Beam."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--config {path!r} does not exist")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"--config {path!r} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path!r} must be a mapping of flag names to values")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ConfigError(
            f"--config {path!r}: unknown keys {unknown}; use flag names without dashes, "
            f"and put Beam options under '{PIPELINE_OPTIONS_KEY}:'"
        )
    if isinstance(data.get("input"), str):
        data["input"] = [data["input"]]
    if not isinstance(data.get(PIPELINE_OPTIONS_KEY, {}), dict):
        raise ConfigError(f"--config {path!r}: '{PIPELINE_OPTIONS_KEY}' must be a mapping")
    return data


def pipeline_args(options: dict) -> list[str]:
    """Beam command-line arguments from a YAML `pipeline_options` mapping."""
    args = []
    for key, value in options.items():
        if value is True:
            args.append(f"--{key}")
        elif value is False or value is None:
            continue
        elif isinstance(value, list):
            args += [f"--{key}={v}" for v in value]
        else:
            args.append(f"--{key}={value}")
    return args
