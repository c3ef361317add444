"""Chat templates: Jinja files under templates/ with a YAML of metadata beside each.

A template renders one example from `messages` (an optional system message, then the window's
user/assistant turns, the last being the target assistant turn) and the tokenizer's `bos_token` and
`eos_token`, exactly as a Hugging Face chat template does with add_generation_prompt=False. It is
compiled in jinja2's ImmutableSandboxedEnvironment.

The pipeline never renders the content itself through Jinja: it renders a *skeleton* once per
window shape (system or not, roles), with each content replaced by a sentinel, and splices the real
contents in. So a template must output each message's content unchanged (trimming is fine: contents
are already stripped), which `skeleton` checks.
"""

from __future__ import annotations

import datetime
import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import jinja2.ext
import yaml
from jinja2.sandbox import ImmutableSandboxedEnvironment

from beam_prep.core.records import ASSISTANT, SYSTEM, USER

_SENTINEL = re.compile("\ue000(\\d+)\ue001")
_META_KEYS = {
    "description",
    "origin",
    "default_system_prompt",
    "stop_sequence",
    "end_of_turn",
    "tool_results",
    "modes",
}
TOOL_RESULTS = ("text", "json")  # how a template receives a tool result's content


class TemplateError(ValueError):
    """A template that cannot be loaded, compiled or used; the message names it and says why."""


@dataclass(frozen=True)
class TemplateSpec:
    """A template as loaded from disk: small and picklable. Compile it with CompiledTemplate."""

    name: str
    source: str
    description: str = ""
    origin: str = ""
    default_system_prompt: str | None = None
    stop_sequence: str | None = None
    end_of_turn: str | None = None  # text after an assistant turn trained with it; "eos_token" = EOS;
    # "auto" = the special token the template writes right after an assistant's content
    # "text": a tool result's content as the record gives it (apply_chat_template); "json": as
    # mistral-common normalises it, the parsed JSON value when it is JSON, {} when it is empty
    tool_results: str = "text"
    modes: tuple[str, ...] = ("per_response", "whole_dialog")
    path: str = field(default="", compare=False)


def templates_dir() -> Path:
    """The bundled templates/ folder: beam_prep/_templates when installed, else the source tree's."""
    installed = Path(__file__).resolve().parents[1] / "_templates"
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parents[2] / "templates"


def template_names() -> list[str]:
    return sorted(p.stem for p in templates_dir().glob("*.jinja"))


def load_template(name_or_path: str) -> TemplateSpec:
    """A bundled template by name, or a user's .jinja file (its metadata from a .yaml beside it)."""
    path = Path(name_or_path)
    if name_or_path.endswith(".jinja") or path.is_file():
        if not path.is_file():
            raise TemplateError(f"template file {name_or_path!r} does not exist")
    else:
        path = templates_dir() / f"{name_or_path}.jinja"
        if not path.is_file():
            known = ", ".join(template_names())
            raise TemplateError(f"unknown template {name_or_path!r}; known templates: {known}")
    meta_path = path.with_suffix(".yaml")
    meta = yaml.safe_load(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    if not isinstance(meta, dict):
        raise TemplateError(f"{meta_path}: metadata must be a mapping")
    unknown = set(meta) - _META_KEYS
    if unknown:
        raise TemplateError(f"{meta_path}: unknown keys {sorted(unknown)}; allowed: {sorted(_META_KEYS)}")
    if meta.get("tool_results", "text") not in TOOL_RESULTS:
        raise TemplateError(f"{meta_path}: tool_results must be one of {list(TOOL_RESULTS)}")
    if "modes" in meta:
        meta["modes"] = tuple(meta["modes"])
    return TemplateSpec(name=path.stem, source=path.read_text(encoding="utf-8"), path=str(path), **meta)


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox, failing loudly: an unsafe attribute is an error, not a silent empty string."""

    def unsafe_undefined(self, obj, attribute):
        raise jinja2.exceptions.SecurityError(
            f"access to attribute {attribute!r} of a {type(obj).__name__!r} object is unsafe"
        )


def _raise_exception(message: str):
    raise TemplateError(message)


def _tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False) -> str:
    """transformers' `tojson` filter (json.dumps, key order kept, no HTML escaping), not Jinja's."""
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _strftime_now(fmt: str) -> str:
    return datetime.datetime.now().strftime(fmt)


class CompiledTemplate:
    """A template compiled for one tokenizer's bos/eos tokens; skeletons cached by window shape."""

    def __init__(self, spec: TemplateSpec, bos_token: str = "", eos_token: str = ""):
        self.spec = spec
        self.bos_token = bos_token or ""
        self.eos_token = eos_token or ""
        # The same environment as transformers' apply_chat_template, so HF templates behave alike.
        env = _Sandbox(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
        env.globals["raise_exception"] = _raise_exception
        env.globals["strftime_now"] = _strftime_now
        env.filters["tojson"] = _tojson
        try:
            self._template = env.from_string(spec.source)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"template {spec.name!r}: syntax error line {exc.lineno}: {exc.message}") from None
        eot = spec.end_of_turn
        self.end_of_turn = self.eos_token if eot == "eos_token" else ("" if eot == "auto" else (eot or ""))
        self._skeletons: dict[tuple, tuple] = {}

    def detect_end_of_turn(self, special_tokens: tuple[str, ...]) -> str:
        """`end_of_turn: auto`: the special token the template writes right after an assistant's
        content (whitespace between allowed), e.g. <|eot_id|>, <|im_end|>, </s>; "" if none."""
        probe = "beamprepprobeanswer"
        text = self.render(
            [
                {"role": "user", "content": "u"},
                {"role": "assistant", "content": probe},
                {"role": "user", "content": "v"},
                {"role": "assistant", "content": "w"},
            ]
        )
        at = text.find(probe)
        after = text[at + len(probe) :].lstrip() if at >= 0 else ""
        return next((t for t in sorted(special_tokens, key=len, reverse=True) if t and after.startswith(t)), "")

    def render(self, messages: list[dict], tools: list | None = None, add_generation_prompt: bool = False) -> str:
        """Render real messages directly (the reference path: preview and tests; and every window
        of a dialogue with tools or reasoning, core/structured.py), as apply_chat_template does."""
        try:
            return self._template.render(
                messages=messages,
                tools=tools,
                bos_token=self.bos_token,
                eos_token=self.eos_token,
                add_generation_prompt=add_generation_prompt,
            )
        except jinja2.exceptions.SecurityError as exc:
            raise TemplateError(f"template {self.spec.name!r} tried an unsafe operation: {exc}") from None
        except (jinja2.TemplateError, TypeError, AttributeError, KeyError, IndexError) as exc:
            raise TemplateError(f"template {self.spec.name!r} failed to render: {exc}") from None

    def skeleton(self, roles: tuple[str, ...]) -> tuple[str | int, ...]:
        """Literal strings and message indices, alternating as the template renders `roles`.

        Every message index appears exactly once and in order, except the system message: a template
        with no system prompt leaves it out, and one may write it later, before the last message
        (Mistral v3 writes it in the last user message).
        """
        parts = self._skeletons.get(roles)
        if parts is None:
            parts = self._skeletons[roles] = self._make_skeleton(roles)
        return parts

    def _make_skeleton(self, roles: tuple[str, ...]) -> tuple[str | int, ...]:
        text = self.render([{"role": r, "content": f"\ue000{i}\ue001"} for i, r in enumerate(roles)])
        pieces = _SENTINEL.split(text)
        literals, indices = pieces[0::2], [int(x) for x in pieces[1::2]]
        expected = [i for i, r in enumerate(roles) if not (r == SYSTEM and i not in indices)]
        turns = [i for i in indices if roles[i] != SYSTEM]  # in order; the system prompt may come later
        if sorted(indices) != expected or turns != sorted(turns) or (indices and indices[-1] != len(roles) - 1):
            raise TemplateError(
                f"template {self.spec.name!r} must output each message's content once and in order "
                "(the system prompt may come later, not after the last message) "
                f"(got message order {indices} for roles {list(roles)})"
            )
        parts: list[str | int] = [literals[0]]
        for index, literal in zip(indices, literals[1:]):
            parts += [index, literal]
        return tuple(parts)


@functools.cache
def window_roles(has_system: bool, n_turns: int, first_role: str = USER) -> tuple[str, ...]:
    """Roles of a window of alternating turns, optionally after a system message."""
    other = ASSISTANT if first_role == USER else USER
    roles = tuple(first_role if i % 2 == 0 else other for i in range(n_turns))
    return ((SYSTEM,) if has_system else ()) + roles
