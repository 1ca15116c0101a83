"""The dry run: which faults a run would inject, where, for how long, how each is undone and what stops it.

A plan comes from a Chaos Toolkit experiment file (JSON or YAML) or, without one, from the DR guide's
disaster scenarios applied to the workload (AZ, region, service, replication, data corruption,
security breach). Building a plan changes nothing: offline it contacts no world at all; against an
account it only reads (STS, tags) to show whether each fault is in scope.

Experiment activities recognised as faults:
- python providers in a `drharness...` module: `inject_fault(fault=NAME, params={...})` (or `name=`),
  or `inject_<fault>(**params)` such as `inject_az_outage(region=..., az=...)`;
- process providers running `drharness fault inject NAME key=value ...`.
`${var}` in arguments is replaced from the experiment's `configuration` (literals, or
`{"type": "env", "key": ..., "default": ...}`), overridden by `--var var=value`.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from drharness.config import Workload
from drharness.errors import ConfigError, DrHarnessError, FaultError, SafetyError
from drharness.faults.live import describe_live_change, live_options
from drharness.faults.spec import FAULTS, FaultParams, parse_fault
from drharness.safety.guard import alarm_arns, stop_alarms, stop_file_path
from drharness.safety.scope import ScopedResource, check_fault_scope, fault_resources

UNDEFINED_VARIABLE = (
    "experiment {source}: ${{{name}}} is not defined in its configuration; "
    "add it there or pass --var {name}=VALUE"
)
NOT_AN_EXPERIMENT = "experiment {source}: {why}; a Chaos Toolkit experiment is a mapping with a 'method' list"
BAD_VARIABLE = "variable {item!r} is not name=value (e.g. --var region=us-east-1)"
_VAR = re.compile(r"\$\{([^}]*)\}")
_ALONE = re.compile(r"^\$\{([^}]*)\}$")
_INT = re.compile(r"^[+-]?\d+$")  # the typing of `drharness fault inject` values
_FLOAT = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")


@dataclass(frozen=True)
class FaultStep:
    """One fault a run would inject: where in the run (`step`) and the validated fault."""

    step: str
    name: str
    params: FaultParams
    pause_after_seconds: float | None = None


@dataclass(frozen=True)
class PlannedFault:
    """A fault step with what it reaches, how long it stays, how it is undone, and its scope verdict."""

    step: FaultStep
    resources: tuple[ScopedResource, ...]
    duration: str
    revert: str
    backend: str
    scope: str


@dataclass(frozen=True)
class Plan:
    source: str
    target: str
    faults: tuple[PlannedFault, ...]
    other_steps: tuple[str, ...]
    stop_conditions: tuple[str, ...]

    @property
    def refused(self) -> tuple[PlannedFault, ...]:
        return tuple(f for f in self.faults if f.scope.startswith("refused"))

    def lines(self) -> list[str]:
        """The plan as text, one fact per line."""
        out = [f"plan: {len(self.faults)} fault(s) from {self.source}; target {self.target}"]
        for number, fault in enumerate(self.faults, start=1):
            step = fault.step
            out.append(f"{number}. {step.name} ({step.step})")
            out.append(f"   what:     {step.params.summary()}")
            for resource in fault.resources or ():
                out.append(f"   target:   {resource.describe()}")
            out += [f"   duration: {fault.duration}", f"   revert:   {fault.revert}",
                    f"   backend:  {fault.backend}", f"   scope:    {fault.scope}"]
        if self.other_steps:
            out.append("other steps (not faults):")
            out += [f"  - {s}" for s in self.other_steps]
        out.append("stop conditions:")
        out += [f"  - {s}" for s in self.stop_conditions]
        out.append("nothing was changed: this is a plan")
        return out


def scenario_steps(workload: Workload) -> list[FaultStep]:
    """The DR guide's disaster scenarios against this workload, one fault each."""
    primary, secondary = workload.primary_region, workload.secondary_region
    zone = workload.spec.compute.availability_zones[0]
    raw: list[tuple[str, str, dict[str, object]]] = [
        ("AZ outage: multi-AZ switch", "az-outage", {"region": primary, "az": zone}),
        ("region outage: cross-region recovery", "region-outage", {"region": primary}),
        ("service fault: DynamoDB throttled", "service-fault",
         {"service": "dynamodb", "region": primary, "mode": "throttle", "rate": 0.5}),
        ("replication held: bucket", "replication-pause", {"bucket": workload.data_bucket, "region": secondary}),
        ("replication held: table", "replication-pause", {"table": workload.metadata_table, "region": primary}),
        ("data corruption: backup restore", "data-corruption",
         {"bucket": workload.data_bucket, "prefix": workload.spec.bucket.replication.prefix, "region": primary}),
        ("security breach: isolate and recover", "credential-compromise", {"region": primary}),
    ]
    return [FaultStep(step, name, parse_fault(name, params)) for step, name, params in raw]


# -- experiments -------------------------------------------------------------------------------------


def parse_variables(items: list[str]) -> dict[str, str]:
    """Turn `name=value` words (from --var) into experiment variables."""
    found: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not name.strip().replace("_", "").replace("-", "").isalnum():
            raise ConfigError(BAD_VARIABLE.format(item=item))
        found[name.strip()] = value
    return found


def load_experiment(path: Path) -> tuple[Mapping[str, Any], str]:
    """Read an experiment file (JSON, or YAML by suffix); return the mapping and its source name."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"experiment {source}: cannot be read ({exc}); pass an existing experiment file") from exc
    return parse_experiment_text(text, source, yaml=path.suffix.lower() in (".yaml", ".yml")), source


def parse_experiment_text(text: str, source: str, *, yaml: bool = False) -> Mapping[str, Any]:
    """Parse experiment text; errors are one line saying where."""
    try:
        if yaml:
            import yaml as pyyaml

            data = pyyaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # noqa: BLE001 - json and yaml raise several kinds; each becomes one line
        detail = " ".join(str(exc).split())
        raise ConfigError(f"experiment {source}: not valid {'YAML' if yaml else 'JSON'}: {detail}") from exc
    if not isinstance(data, dict):
        raise ConfigError(NOT_AN_EXPERIMENT.format(source=source, why=f"the top level is a {type(data).__name__}"))
    return data


def experiment_variables(experiment: Mapping[str, Any], overrides: Mapping[str, str], source: str) -> dict[str, object]:
    """The experiment's configuration values, env entries resolved, `overrides` (--var) on top."""
    config = experiment.get("configuration") or {}
    if not isinstance(config, dict):
        raise ConfigError(NOT_AN_EXPERIMENT.format(source=source, why="'configuration' is not a mapping"))
    values: dict[str, object] = {}
    for name, entry in config.items():
        if isinstance(entry, dict) and entry.get("type") == "env":
            key = str(entry.get("key", ""))
            if key in os.environ:
                values[str(name)] = os.environ[key]
            elif "default" in entry:
                values[str(name)] = entry["default"]
            elif str(name) not in overrides:
                raise ConfigError(f"experiment {source}: configuration {name!r} reads environment {key!r}, "
                                  f"which is not set and has no default; set it or pass --var {name}=VALUE")
        else:
            values[str(name)] = entry
    values.update(overrides)
    return values


def substitute(value: Any, variables: Mapping[str, object], source: str) -> Any:
    """Replace `${name}` in strings (recursively); a string that is only `${name}` takes the value's type."""
    if isinstance(value, str):
        alone = _ALONE.match(value)
        if alone:
            return _lookup(alone.group(1), variables, source)
        return _VAR.sub(lambda m: str(_lookup(m.group(1), variables, source)), value)
    if isinstance(value, list):
        return [substitute(v, variables, source) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, variables, source) for k, v in value.items()}
    return value


def _lookup(name: str, variables: Mapping[str, object], source: str) -> object:
    if name not in variables:
        raise ConfigError(UNDEFINED_VARIABLE.format(source=source, name=name))
    return variables[name]


def experiment_steps(
    experiment: Mapping[str, Any], source: str, overrides: Mapping[str, str] | None = None
) -> tuple[list[FaultStep], list[str]]:
    """The fault steps of an experiment's method, and a line for every other activity."""
    variables = experiment_variables(experiment, overrides or {}, source)
    method = experiment.get("method")
    if not isinstance(method, list):
        raise ConfigError(NOT_AN_EXPERIMENT.format(source=source, why="'method' is missing or not a list"))
    steps: list[FaultStep] = []
    others: list[str] = []
    for section, activities in (("method", method), ("rollbacks", experiment.get("rollbacks") or [])):
        if not isinstance(activities, list):
            raise ConfigError(NOT_AN_EXPERIMENT.format(source=source, why=f"'{section}' is not a list"))
        for index, activity in enumerate(activities, start=1):
            where = f"{section} #{index}"
            if not isinstance(activity, dict):
                raise ConfigError(NOT_AN_EXPERIMENT.format(source=source, why=f"{where} is not a mapping"))
            label = f"{where} {_one_line(activity.get('name', '(unnamed)'))}"
            found = _fault_of(activity, variables, source, label)
            if found is None:
                provider = activity.get("provider") if isinstance(activity.get("provider"), dict) else {}
                call = ".".join(str(provider.get(k)) for k in ("module", "func") if provider.get(k)) or str(
                    provider.get("path", provider.get("type", "?")))
                others.append(_one_line(f"{label}: {activity.get('type', 'activity')} {call}", 200))
            else:
                steps.append(found)
    return steps, others


def _one_line(value: object, limit: int = 60) -> str:
    """Text from a file, fit for one line of output: whitespace collapsed, length bounded."""
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fault_of(activity: Mapping[str, Any], variables: Mapping[str, object], source: str, label: str) -> FaultStep | None:
    provider = activity.get("provider")
    if not isinstance(provider, dict):
        return None
    arguments = substitute(provider.get("arguments") or {}, variables, source)
    pauses = activity.get("pauses") if isinstance(activity.get("pauses"), dict) else {}
    after = substitute(pauses.get("after"), variables, source)
    try:
        pause_after = float(after) if after is not None else None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"experiment {source}: {label}: pauses.after {after!r} is not a number of seconds") from exc
    name, params = None, None
    if provider.get("type") == "python" and str(provider.get("module", "")).startswith("drharness"):
        func = str(provider.get("func", ""))
        if not isinstance(arguments, dict):
            raise ConfigError(f"experiment {source}: {label}: arguments must be a mapping")
        if func in ("inject_fault", "inject"):
            args = dict(arguments)
            name = str(args.pop("fault", args.pop("name", "")))
            params = args.pop("params", None)
            params = params if isinstance(params, dict) else args
        elif func.startswith("inject_") and func[len("inject_"):].replace("_", "-") in FAULTS:
            name, params = func[len("inject_"):].replace("_", "-"), dict(arguments)
    elif provider.get("type") == "process" and Path(str(provider.get("path", ""))).name == "drharness":
        try:
            words = shlex.split(arguments) if isinstance(arguments, str) else [str(a) for a in arguments or []]
        except ValueError as exc:  # an unclosed quote
            raise ConfigError(f"experiment {source}: {label}: cannot read the process arguments: {exc}") from exc
        if words[:2] == ["fault", "inject"] and len(words) > 2:
            name = words[2]
            params = _assignments(words[3:], source, label)
    if name is None:
        return None
    try:
        spec = parse_fault(name, dict(params or {}))
    except DrHarnessError as exc:
        raise type(exc)(f"experiment {source}: {label}: {exc}") from exc
    return FaultStep(label, name, spec, pause_after)


def _assignments(words: list[str], source: str, label: str) -> dict[str, object]:
    """`key=value` words of a `drharness fault inject` command line, typed as that command types them."""
    params: dict[str, object] = {}
    skip = False
    for word in words:
        if skip or word.startswith("--"):
            skip = word.startswith("--") and "=" not in word  # an option's value follows it
            continue
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise FaultError(f"experiment {source}: {label}: parameter {word!r} is not key=value")
        params[key] = _typed(value)
    return params


def _typed(text: str) -> object:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    return text


# -- building the plan -------------------------------------------------------------------------------


def _revert_text(name: str, live: bool) -> str:
    undo = {
        "az-outage": "instances of the zone started again, capacity back",
        "region-outage": "the region answers again",
        "service-fault": "calls answer normally again",
        "replication-pause": "replication resumes and catches up",
        "data-corruption": "the original objects or items put back",
        "credential-compromise": "the attacker's key and user removed",
    }[name]
    how = _LIVE_REVERT.get(name, "FIS StopExperiment and DeleteExperimentTemplate") if live else "the world undoes it by id"
    return f"{how}: {undo}; the revert record is journalled before injection (`drharness revert` after a crash)"


_LIVE_REVERT = {
    "region-outage": "IAM DeleteRolePolicy on every role in scope",
    "data-corruption": "the originals put back from the revert record",
    "credential-compromise": "IAM DeleteAccessKey, DeleteUserPolicy and DeleteUser",
}


def build_plan(
    workload: Workload, steps: list[FaultStep], others: list[str], *, source: str, target_name: str,
    account_id: str, live_target: Any = None, live_region: str | None = None, fis_duration: str = "PT30M",
    journal_dir: Path | None = None,
) -> Plan:
    """Describe every step; for a live target read each fault's scope (reads only)."""
    region = live_region or workload.primary_region
    live = live_target is not None
    planned = []
    for step in steps:
        resources = fault_resources(step.name, step.params, account_id=account_id, region=region,
                                    tag_scope=workload.spec.live.tag_scope if live else None)
        after = f"held {step.pause_after_seconds:g} s (the step's pause), then " if step.pause_after_seconds else ""
        if live:
            options = replace(live_options(workload, region=region), role_arn="(the FIS role)", duration=fis_duration,
                              stop_alarm_arns=alarm_arns(workload, account_id))
            try:
                backend = describe_live_change(step.name, step.params, options, account_id)
            except FaultError as exc:
                backend = f"none: {exc}"
            duration = f"{after or 'until '}the run reverts it; FIS ends it by itself after {fis_duration}"
            try:
                check_fault_scope(live_target, workload, step.name, step.params, region=region)
                scope = "in scope: " + ", ".join(f"{k}={v}" for k, v in workload.spec.live.tag_scope.items())
            except SafetyError as exc:
                scope = f"refused: {exc}"
        else:
            backend = "offline world (fault layer on its HTTP path and data plane)"
            duration = f"{after or 'until '}the run reverts it"
            scope = "offline world: no account is touched"
        planned.append(PlannedFault(step, resources, duration, _revert_text(step.name, live), backend, scope))
    stops = [f"CloudWatch alarm {a.label} in ALARM: every fault reverted, newest first, run ended"
             for a in stop_alarms(workload)]
    if live and stops:
        stops.append("the same alarms are each FIS experiment's stopConditions (the account stops them by itself)")
    stops += [
        f"stop file {stop_file_path()} (`drharness stop`): every fault reverted, run ended",
        "SIGINT / SIGTERM / SIGHUP: every fault reverted in order, then the run exits",
        f"SIGKILL or machine loss: `drharness revert --journal {journal_dir or '.drharness/journal'}`, "
        "then `drharness sweep` for test resources",
    ]
    return Plan(source, target_name, tuple(planned), tuple(others), tuple(stops))
