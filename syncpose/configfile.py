"""Load a rig YAML file into :class:`~syncpose.config.RigConfig`, with errors that point at lines.

Every problem — YAML syntax, duplicate key, unknown key, wrong type, cross-field inconsistency,
a file the config names that is not there — becomes a :class:`ConfigProblem` with the file, the
1-based line and the dotted key. Hostile files get the same treatment, quickly: binary data, a
NUL byte, YAML anchors and aliases (refused: a self-referencing or exponentially nested alias
would otherwise exhaust the stack or the memory), nesting too deep, a file over
:data:`MAX_CONFIG_BYTES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from syncpose.config import (
    OnnxDetectorConfig,
    RigConfig,
    SyntheticSourceConfig,
    VideoSourceConfig,
    dotted_key,
)

Loc = tuple[str | int, ...]

#: The largest rig file read (a real one is a few kB).
MAX_CONFIG_BYTES = 1 << 20


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a config file."""

    source: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        return f"{where}: {self.key}: {self.message}"


class ConfigError(ValueError):
    """A config file could not be used; ``problems`` lists every reason found."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def load_config(path: str | Path, check_files: bool = True) -> RigConfig:
    """Read and validate a rig YAML file and (with ``check_files``) check that the files it
    names are there. Raises :class:`ConfigError`."""
    path = Path(path)

    def refuse(message: str) -> ConfigError:
        return ConfigError([ConfigProblem(str(path), None, "(file)", message)])

    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise refuse(f"{size} bytes: a rig file is a few kB of YAML")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise refuse("not a text file: a rig file is YAML, in UTF-8") from None
    except OSError as exc:
        raise refuse(exc.strerror or str(exc)) from None
    return parse_config(text, source=str(path), base_dir=path.parent, check_files=check_files)


def parse_config(
    text: str, source: str = "<string>", base_dir: Path | None = None, check_files: bool = False
) -> RigConfig:
    """Validate YAML ``text``; ``source`` names it in error messages.

    Relative file paths in sources (a video's ``path``, a synthetic camera's ``motion``) are
    taken relative to ``base_dir`` (the config file's folder) when it is given. With
    ``check_files``, a file the config names (a video, the calibration, a model, a motion) that
    is not there is a problem too.
    """
    data, lines, problems = _load_yaml(text, source)
    if problems:
        raise ConfigError(problems)
    if base_dir is not None:
        _resolve_paths(data, base_dir)
    try:
        config = RigConfig.model_validate(data, context={"defer_checks": True})
    except ValidationError as exc:
        raise ConfigError(
            [_problem(source, lines, tuple(err["loc"]), _message(err)) for err in exc.errors()]
        ) from None
    located = config.problems() + (missing_files(config) if check_files else [])
    if located:
        raise ConfigError([_problem(source, lines, loc, msg) for loc, msg in located])
    return config


def missing_files(config: RigConfig) -> list[tuple[Loc, str]]:
    """The files ``config`` names that are not there, as (location, message)."""
    named: list[tuple[Loc, Path | str | None]] = []
    for i, cam in enumerate(config.cameras):
        source = cam.source
        if isinstance(source, VideoSourceConfig):
            named.append((("cameras", i, "source", "path"), source.path))
        elif isinstance(source, SyntheticSourceConfig) and source.motion != "bundled":
            named.append((("cameras", i, "source", "motion"), source.motion))
    inference = config.inference
    named.append((("inference", "calibration"), inference.calibration))
    detector = inference.detector
    if isinstance(detector, OnnxDetectorConfig):
        named.append((("inference", "detector", "model"), detector.model))
        if detector.person_detector is not None:
            loc = ("inference", "detector", "person_detector", "model")
            named.append((loc, detector.person_detector.model))
    if inference.denoiser is not None:
        named.append((("inference", "denoiser", "model"), inference.denoiser.model))
    return [
        (loc, f"no such file: {path}")
        for loc, path in named
        if path is not None and not Path(path).is_file()
    ]


def _resolve_paths(data: Any, base_dir: Path) -> None:
    cameras = data.get("cameras") if isinstance(data, dict) else None
    for cam in cameras if isinstance(cameras, list) else []:
        source = cam.get("source") if isinstance(cam, dict) else None
        if not isinstance(source, dict):
            continue
        key = {"video": "path", "synthetic": "motion"}.get(str(source.get("type")))
        value = source.get(key) if key else None
        if isinstance(value, str) and value != "bundled" and not Path(value).is_absolute():
            source[key] = str(base_dir / value)
    inference = data.get("inference") if isinstance(data, dict) else None
    if not isinstance(inference, dict):
        return
    detector = inference.get("detector")
    sections: list[tuple[Any, str]] = [
        (inference, "calibration"),
        (detector, "model"),
        (detector.get("person_detector") if isinstance(detector, dict) else None, "model"),
        (inference.get("denoiser"), "model"),
    ]
    for section, key in sections:
        if not isinstance(section, dict):
            continue
        value = section.get(key)
        if isinstance(value, str) and not Path(value).is_absolute():
            section[key] = str(base_dir / value)


def _message(err: Any) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key (not a field of this section)"
    if err["type"] == "missing":
        return "required key is missing"
    return str(err["msg"])


def _problem(source: str, lines: dict[Loc, int], loc: Loc, message: str) -> ConfigProblem:
    """Map a pydantic location onto the YAML tree.

    Parts of ``loc`` absent from the file (the tag pydantic adds for a discriminated union, or a
    missing key) are skipped for the line lookup; the line is that of the deepest part found.
    """
    found: Loc = ()
    key_parts: list[str | int] = []
    line = lines.get(())
    for i, part in enumerate(loc):
        candidate = (*found, part)
        if candidate in lines:
            found = candidate
            key_parts.append(part)
            line = lines[candidate]
        elif i == len(loc) - 1 or not isinstance(part, str):
            key_parts.append(part)  # a missing key: name it, keep the parent's line
        # else: a union tag that is not in the file; leave it out of the key
    return ConfigProblem(source, line, dotted_key(tuple(key_parts)), message)


def _load_yaml(text: str, source: str) -> tuple[Any, dict[Loc, int], list[ConfigProblem]]:
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)  # checks the characters: a NUL byte fails here
        node = loader.get_single_node()
        if node is None:
            return None, {}, [ConfigProblem(source, 1, "(top level)", "the file is empty")]
        lines: dict[Loc, int] = {(): node.start_mark.line + 1}
        problems: list[ConfigProblem] = []
        _index(node, (), lines, problems, source, set())
        if problems:
            return None, lines, problems
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        msg = f"YAML syntax error: {exc.problem or exc}"
        return None, {}, [ConfigProblem(source, line, "(syntax)", msg)]
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (NUL, binary)
        line = text.count("\n", 0, exc.position) + 1
        char = chr(exc.character) if isinstance(exc.character, int) else exc.character
        message = f"character {char!r} is not allowed in YAML (is this a text file?)"
        return None, {}, [ConfigProblem(source, line, "(syntax)", message)]
    except yaml.YAMLError as exc:
        return None, {}, [ConfigProblem(source, None, "(syntax)", f"YAML error: {exc}")]
    except RecursionError:
        return None, {}, [ConfigProblem(source, None, "(syntax)", "the YAML is nested too deeply")]
    finally:
        if loader is not None:
            loader.dispose()
    return data, lines, problems


def _index(
    node: yaml.Node,
    loc: Loc,
    lines: dict[Loc, int],
    problems: list[ConfigProblem],
    source: str,
    seen: set[int],
) -> None:
    """Record the line of every key and list item below ``node``; report duplicate keys, and
    aliases (a node met twice: PyYAML gives an alias the anchored node itself)."""
    if isinstance(node, yaml.CollectionNode):
        if id(node) in seen:
            message = "YAML anchors and aliases (& and *) are not supported in a rig file"
            problems.append(
                ConfigProblem(source, node.start_mark.line + 1, dotted_key(loc), message)
            )
            return
        seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):  # a list or mapping used as a key
                line = key_node.start_mark.line + 1
                problems.append(
                    ConfigProblem(source, line, dotted_key(loc), "a key must be a name")
                )
                continue
            key = key_node.value
            child = (*loc, key)
            if child in lines:
                problems.append(
                    ConfigProblem(
                        source,
                        key_node.start_mark.line + 1,
                        dotted_key(child),
                        f"duplicate key (first defined on line {lines[child]})",
                    )
                )
                continue
            lines[child] = key_node.start_mark.line + 1
            _index(value_node, child, lines, problems, source, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            child = (*loc, i)
            lines[child] = item.start_mark.line + 1
            _index(item, child, lines, problems, source, seen)
