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
from beam_prep.core.normalize import INPUT_FORMATS, Policy, parse_role_map
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


@dataclass
class RunConfig:
    input: list[str] = field(default_factory=list)
    output: str = ""
    input_format: str = "auto"
    template: str = "llama2-chat-memory"
    mode: str = "per_response"
    system_prompt: str | None = None
    tokenizer: str = BUNDLED_TOKENIZER
    max_seq_length: int = 4096
    val_fraction: float = 0.05
    seed: int = 0
    special_tokens_in_content: str = "reject"
    reasoning: str = "train"  # a target's reasoning: trained as its template renders it, or dropped
    num_shards: int = 0  # 0: follow the data size
    tokens_per_shard: int = 5_000_000
    batch_dialogues: int = 64
    packing: bool = False  # several examples per row of max_seq_length tokens (core/pack.py)
    input_chunk_mb: float = 64.0  # a JSONL file is read in parts of about this many MB
    # Normalisation policies (core/normalize.py Policy; docs/input.md).
    same_role_turns: str = "merge"
    empty_turns: str = "drop"
    leading_assistant: str = "drop"
    unknown_roles: str = "reject"
    role_map: str | dict = ""  # "tool=assistant,function=skip", or a mapping in YAML
    conversation_key: str = "auto"  # records of one conversation (core/conversation.py; docs/input.md)
    duplicates: str = "drop"  # drop: an example equal to one kept (memory and target) is written once
    validation_train_targets: str = "keep"  # drop: no validation example whose target is trained verbatim
    max_record_mb: float = RECORD_MB  # a longer line (.json value) is rejected unread: record_too_large
    internal_errors: str = "reject"  # a record beam_prep fails on: reject it (internal_error) or fail the run
    verbose: bool = False
    dry_run: bool = False  # translate the job for the runner, print the plan, write nothing
    pipeline_options: dict = field(default_factory=dict)

    def validate(self) -> RunConfig:
        if not self.input:
            raise ConfigError("--input is required: one or more globs of .jsonl/.json/.parquet files")
        if not self.output:
            raise ConfigError("--output is required: a folder or s3:// / gs:// URL to write to")
        _choice("input_format", self.input_format, INPUT_FORMATS)
        _choice("mode", self.mode, MODES)
        _choice("special_tokens_in_content", self.special_tokens_in_content, SPECIAL_POLICIES)
        _choice("internal_errors", self.internal_errors, INTERNAL_ERROR_CHOICES)
        if not isinstance(self.max_record_mb, (int, float)) or not self.max_record_mb > 0:
            raise ConfigError(f"--max_record_mb must be a positive number, got {self.max_record_mb!r}")
        _choice("reasoning", self.reasoning, REASONING_POLICIES)
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
        _choice("duplicates", self.duplicates, DUPLICATE_POLICIES)
        _choice("validation_train_targets", self.validation_train_targets, TRAIN_TARGET_POLICIES)
        return self

    def conversation_key_spec(self) -> ConversationKey:
        """The parsed --conversation_key; ConfigError naming the bad value."""
        try:
            return parse_conversation_key(self.conversation_key)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    def policy(self) -> Policy:
        """The normalisation policy; ConfigError naming a bad choice or --role_map entry."""
        try:
            return Policy(
                self.same_role_turns,
                self.empty_turns,
                self.leading_assistant,
                self.unknown_roles,
                parse_role_map(self.role_map),
            )
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

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
