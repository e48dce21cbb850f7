"""Load spanguard's YAML config: find it, substitute `${VARS}`, validate, and explain errors.

Users fix configs from error messages, so every failure becomes one `ConfigError` line
naming the file, the line and the key path (`spanguard.yaml:12: unknown key 'detecters'
(key: redaction.detecters)`). To get lines, the YAML is composed into PyYAML's node tree
(which keeps marks) and turned into plain data here, recording the line of every key and
list item; pydantic's error `loc` is then looked up in that table.

Config values may be secrets (tokens, env-substituted keys), so no error ever quotes a
value: messages come from pydantic's `msg` (never its `input`) or from our own text.
"""

from __future__ import annotations

import difflib
import os
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from spanguard.config.model import SpanguardConfig
from spanguard.errors import ConfigError

CONFIG_ENV_VAR = "SPANGUARD_CONFIG"
DEFAULT_CONFIG_FILE = "spanguard.yaml"

ConfigSource = Union[str, "os.PathLike[str]", Mapping[str, Any], SpanguardConfig, None]
KeyPath = tuple[str | int, ...]

# `$$` is a literal `$`; `${NAME}`, `${NAME:-default}` and the Collector's `${env:NAME}`
# are substitutions. A `$` followed by anything else is left alone, so regexes like
# `foo$` need no escaping.
_SUBSTITUTION = re.compile(r"\$(?:(\$)|\{([^}]*)\})")
_VARIABLE = re.compile(r"^(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$", re.DOTALL)
_PLAIN_COLLECTIONS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_REDACTION_SWITCH: KeyPath = ("redaction", "enabled")


@dataclass
class _Document:
    """Plain data from one config source plus where each key and item came from."""

    data: Any
    source_name: str | None
    lines: dict[KeyPath, int] = field(default_factory=dict)
    # substitution problems are kept (not raised) so the error reported is the first one
    # in the file, whichever kind it is
    problems: list[ConfigError] = field(default_factory=list)


def load_config(source: ConfigSource = None) -> SpanguardConfig:
    """The validated config from a file path, a mapping, or the usual places.

    `None` looks at `$SPANGUARD_CONFIG`, then `./spanguard.yaml`, and falls back to the
    built-in defaults when neither exists. An explicit path that does not exist is an
    error: a typo in a path must not silently mean "defaults". A mapping is validated
    as-is (no `${VAR}` substitution: Python callers have `os.environ`).
    """
    if isinstance(source, SpanguardConfig):
        return source
    if isinstance(source, Mapping):
        return _validate(_Document(data=_plain(source), source_name=None))
    if source is None:
        from_env = os.environ.get(CONFIG_ENV_VAR)
        if from_env:
            return _load_file(from_env)
        if Path(DEFAULT_CONFIG_FILE).is_file():
            return _load_file(DEFAULT_CONFIG_FILE)
        return SpanguardConfig()
    if isinstance(source, str | os.PathLike):
        return _load_file(os.fspath(source))
    raise ConfigError(f"cannot load a config from a {type(source).__name__}; pass a path or a mapping")


def loads_config(text: str, source_name: str = "<string>") -> SpanguardConfig:
    """Validate YAML text; `source_name` is what error messages call the file."""
    return _validate(_parse_yaml(text, source_name))


def _load_file(path: str) -> SpanguardConfig:
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError("config file not found", path=path) from None
    except IsADirectoryError:
        raise ConfigError("config path is a directory, not a file", path=path) from None
    except OSError as exc:
        raise ConfigError(
            f"cannot read config file: {exc.strerror or type(exc).__name__}", path=path
        ) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError("config file is not valid UTF-8", path=path, line=line) from None
    return loads_config(text, path)


# --- YAML -> plain data with lines -------------------------------------------------------


def _parse_yaml(text: str, source_name: str) -> _Document:
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        document = _Document(data=None, source_name=source_name)
        if root is not None:
            document.data = _construct(loader, root, (), document)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "malformed YAML"
        raise ConfigError(
            f"invalid YAML: {problem}", path=source_name, line=mark.line + 1 if mark else None
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {type(exc).__name__}", path=source_name) from None
    except RecursionError:
        raise ConfigError("invalid YAML: nested too deeply", path=source_name) from None
    finally:
        loader.dispose()
    if document.data is None:
        document.data = {}  # an empty file (or only comments) means the defaults
    if not isinstance(document.data, dict):
        raise ConfigError(
            "the top level of a config file must be a mapping of sections (redaction:, exporters:, ...)",
            path=source_name,
            line=root.start_mark.line + 1 if root is not None else None,
        )
    return document


def _construct(loader: yaml.SafeLoader, node: yaml.Node, path: KeyPath, document: _Document) -> Any:
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and node.tag not in _PLAIN_COLLECTIONS:
        # the walk below would quietly ignore a tag like `!!set` or `!custom`
        raise ConfigError(
            "tagged mappings and lists are not supported",
            path=document.source_name,
            line=node.start_mark.line + 1,
            key=_format_path(path) or None,
        )
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves `<<: *anchor` merge keys
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            # Keys stay the text the user wrote: YAML 1.1 would turn `on:` into True and
            # `1:` into an int, and an error about key 'True' helps nobody.
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError(
                    "mapping keys must be plain names",
                    path=document.source_name,
                    line=key_node.start_mark.line + 1,
                    key=_format_path(path) or None,
                )
            key = str(key_node.value)
            child = (*path, key)
            if key in result:
                raise ConfigError(
                    f"duplicate key {_quote_key(key)}",
                    path=document.source_name,
                    line=key_node.start_mark.line + 1,
                    key=_format_path(child),
                )
            document.lines[child] = key_node.start_mark.line + 1
            result[key] = _construct(loader, value_node, child, document)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item_node in enumerate(node.value):
            child = (*path, index)
            document.lines[child] = item_node.start_mark.line + 1
            items.append(_construct(loader, item_node, child, document))
        return items
    value = loader.construct_object(node, deep=True)
    if isinstance(value, str):
        if path == _REDACTION_SWITCH and _SUBSTITUTION.search(value):
            # turning redaction off lets raw data out: only a literal in the file may do it
            raise ConfigError(
                "redaction.enabled cannot come from an environment variable: write true or false",
                path=document.source_name,
                line=node.start_mark.line + 1,
                key="redaction.enabled",
            )
        return _substitute(value, path, document, node.start_mark.line + 1)
    return value


def _substitute(value: str, path: KeyPath, document: _Document, line: int) -> str:
    """Collector-style `${VAR}` / `${VAR:-default}` / `$$`; values are never quoted back.

    `${VAR:-default}` uses the default when VAR is unset or empty, as the shell does.
    """

    def problem(message: str) -> str:
        document.problems.append(
            ConfigError(message, path=document.source_name, line=line, key=_format_path(path))
        )
        return ""

    def replace(match: re.Match[str]) -> str:
        if match.group(1) is not None:
            return "$"
        parsed = _VARIABLE.match(match.group(2))
        if not parsed:
            return problem("invalid substitution: use ${NAME}, ${NAME:-default} or $$ for a literal $")
        name, default = parsed.group(1), parsed.group(2)
        current = os.environ.get(name)
        if default is not None and not current:
            return default
        if current is None:
            return problem(
                f"environment variable {name} is not set (write ${{{name}:-default}} to give a default)"
            )
        return current

    return _SUBSTITUTION.sub(replace, value)


def _plain(value: Any) -> Any:
    """A caller's mapping as plain dicts and lists, so it can be edited and walked."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


# --- validation and error messages -------------------------------------------------------


def _validate(document: _Document) -> SpanguardConfig:
    data = _fill_empty_sections(document.data, SpanguardConfig)
    errors = list(document.problems)
    try:
        config = SpanguardConfig.model_validate(data)
    except ValidationError as exc:
        errors.append(_explain(exc, document, data))
    if errors:
        raise min(errors, key=lambda error: error.line or 0)
    return config


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model behind `Model` or `Model | None`, else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, types.UnionType):
        models = [arg for arg in get_args(annotation) if isinstance(arg, type) and issubclass(arg, BaseModel)]
        if len(models) == 1:
            return models[0]
    return None


def _fill_empty_sections(data: Any, model: type[BaseModel]) -> Any:
    """`console:` with nothing under it means "console, with its defaults", as in the
    Collector. A section whose model has required keys (e.g. `sidecar.grpc`, which needs
    an endpoint) keeps its null, which there means "off"."""
    if not isinstance(data, dict):
        return data
    result = dict(data)
    for name, info in model.model_fields.items():
        if name not in result:
            continue
        section = _model_of(info.annotation)
        if section is None:
            continue
        if result[name] is None and not any(f.is_required() for f in section.model_fields.values()):
            result[name] = {}
        else:
            result[name] = _fill_empty_sections(result[name], section)
    return result


def _explain(exc: ValidationError, document: _Document, data: Any) -> ConfigError:
    errors = exc.errors(include_url=False)
    # first in the file wins; on one line, an unknown key explains a missing one
    # (`nmae:` is why `name` is missing), so it goes first
    rank = {"extra_forbidden": 0, "missing": 2}
    located = sorted(
        ((*_locate(error, data), rank.get(error.get("type", ""), 1)) for error in errors),
        key=lambda item: (_line_for(item[0], document.lines) or 0, item[2]),
    )
    path, message, _ = located[0]
    more = len(located) - 1
    if more:
        message += f" (and {more} more error{'s' if more > 1 else ''})"
    return ConfigError(
        message,
        path=document.source_name,
        line=_line_for(path, document.lines),
        key=_format_path(path) or None,
    )


def _locate(error: Any, data: Any) -> tuple[KeyPath, str]:
    """Map a pydantic error to (key path in the user's data, message without the value).

    pydantic's `loc` also holds union branch names (`list[str]`); parts that are not
    keys or indexes of the data are skipped. Our validators put a list index in
    `ctx["item"]` so the path can point at the item itself.
    """
    loc = tuple(error.get("loc", ()))
    kind = error.get("type", "")
    path: list[str | int] = []
    current = data
    for position, part in enumerate(loc):
        last = position == len(loc) - 1
        if (isinstance(current, dict) and part in current) or (
            isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        ):
            path.append(part)
            current = current[part]
        elif last and kind == "missing" and isinstance(part, str):
            path.append(part)
    ctx = error.get("ctx") or {}
    item = ctx.get("item")
    if (isinstance(item, int) and isinstance(current, list) and 0 <= item < len(current)) or (
        isinstance(item, str) and isinstance(current, dict) and item in current
    ):
        path.append(item)
    return tuple(path), _message(error, tuple(path), data)


def _message(error: Any, path: KeyPath, data: Any) -> str:
    kind = error.get("type", "")
    key = path[-1] if path else ""
    if kind == "extra_forbidden":
        hint = _did_you_mean(path, data)
        return f"unknown key {_quote_key(key)}{hint}"
    if kind == "missing":
        return f"missing required key {_quote_key(key)}"
    message = str(error.get("msg", "invalid value"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    if len(message) > 1 and not message[1].isupper():
        message = message[0].lower() + message[1:]
    return message


def _did_you_mean(path: KeyPath, data: Any) -> str:
    """Suggest the closest valid key for a typo like `detecters`."""
    annotation: Any = SpanguardConfig
    for part in path[:-1]:
        if isinstance(part, int):
            if get_origin(annotation) is not list:
                return ""
            annotation = get_args(annotation)[0]
            continue
        model = _model_of(annotation)
        if model is None or part not in model.model_fields:
            return ""
        annotation = model.model_fields[part].annotation
    model = _model_of(annotation)
    if model is None or not path or not isinstance(path[-1], str):
        return ""
    close = difflib.get_close_matches(path[-1], list(model.model_fields), n=1, cutoff=0.7)
    return f"; did you mean '{close[0]}'?" if close else ""


def _line_for(path: KeyPath, lines: dict[KeyPath, int]) -> int | None:
    """The line of the key itself, or of its nearest parent that is in the file."""
    for end in range(len(path), 0, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


def _quote_key(key: object) -> str:
    return f"'{key}'" if isinstance(key, str) and len(key) <= 80 else "(key)"


def _format_path(path: KeyPath) -> str:
    """`redaction.custom_patterns[0].pattern`; keys that are not names are bracketed."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            text += f".{part}" if text else part
        else:
            text += f"[{part!r}]"
    return text
