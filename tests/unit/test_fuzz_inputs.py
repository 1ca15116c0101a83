"""Bad input of every kind gives one actionable line (exit 2 on the command line), never a traceback.

Fuzzed: the workload config (TOML built from generated mappings, and raw text), fault parameters,
experiment files and their variables, and `drharness` command lines run in-process.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import tempfile
import typing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from drharness.config import WorkloadFile, parse_workload
from drharness.errors import ConfigError, FaultError, UnknownFaultError
from drharness.faults.spec import FAULTS, FaultParams, parse_fault
from drharness.safety.plan import experiment_steps, parse_variables

FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CLI_FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

PLAUSIBLE = ["", "a", "us-east-1", "us-west-2", "eu-west-1", "${account_id}", "${nope}", "$", "critical", "LUSTRE",
             "cron(0 2 * * ? *)", "123456789012", "12345", "embeddings/", "x" * 300, "ä\n\t\"'\\", "-1", "true"]
scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(PLAUSIBLE),
    st.text(max_size=12),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=8)


# -- a tiny TOML writer: everything inline, every key quoted ----------------------------------------


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are TOML basic-string escapes (lone surrogates aside)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def toml_document(data: dict[str, object]) -> str:
    return "\n".join(f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in data.items()) + "\n"


def _model_of(annotation: object) -> type[BaseModel] | None:
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def model_mappings(model: type[BaseModel], depth: int = 0) -> st.SearchStrategy[dict[str, object]]:
    """Mappings shaped like `model` (its own keys, nested models as mappings) with a stray key now and then."""
    optional: dict[str, st.SearchStrategy[object]] = {}
    for name, info in model.model_fields.items():
        nested = _model_of(info.annotation)
        optional[name] = st.one_of(model_mappings(nested, depth + 1), values) if nested and depth < 2 else values
    known = st.fixed_dictionaries({}, optional=optional)
    stray = st.dictionaries(st.text(min_size=1, max_size=10), values, max_size=1)
    return st.builds(lambda a, b: {**a, **b}, known, st.one_of(st.just({}), stray))


def assert_one_line(exc: BaseException, *kinds: type[BaseException]) -> None:
    assert isinstance(exc, kinds), f"{type(exc).__name__}: {exc}"
    message = str(exc)
    assert message and "\n" not in message and "\r" not in message, repr(message)
    assert "Traceback" not in message


# -- the workload config ----------------------------------------------------------------------------


@FUZZ
@given(model_mappings(WorkloadFile))
@example({"bucket": {"a\nb": 1}})  # a key is echoed in the message: it must not break the line
def test_generated_configs_load_or_fail_in_one_line(data):
    try:
        text = toml_document(data)
    except TypeError:
        return
    try:
        spec = parse_workload(text, "fuzz.toml")
    except ConfigError as exc:
        assert_one_line(exc, ConfigError)
        assert str(exc).startswith("fuzz.toml: ")
    else:
        assert isinstance(spec, WorkloadFile)


@FUZZ
@given(st.text(max_size=200))
def test_any_text_as_config_loads_or_fails_in_one_line(text):
    try:
        parse_workload(text, "fuzz.toml")
    except ConfigError as exc:
        assert_one_line(exc, ConfigError)


# -- fault parameters -------------------------------------------------------------------------------

FAULT_KEYS = sorted({key for model in FAULTS.values() for key in model.model_fields})


@FUZZ
@given(st.one_of(st.sampled_from(sorted(FAULTS)), st.text(max_size=15)),
       st.dictionaries(st.one_of(st.sampled_from(FAULT_KEYS), st.text(max_size=8)), values, max_size=5))
@example("credential-compromise", {"\r": []})
def test_fault_parameters_validate_or_fail_in_one_line(name, params):
    try:
        spec = parse_fault(name, params)
    except (FaultError, UnknownFaultError) as exc:
        assert_one_line(exc, FaultError, UnknownFaultError)
        if name in FAULTS:
            assert str(exc).startswith(f"fault {name}: parameter ")
    else:
        assert isinstance(spec, FaultParams)
        assert "\n" not in spec.summary()


# -- experiments and their variables ----------------------------------------------------------------

names = st.sampled_from(["region", "az", "bucket", "rate", "x"])
arguments = st.dictionaries(
    st.sampled_from(["fault", "name", "params", "region", "az", "service", "rate", "bucket"]),
    st.one_of(values, names.map(lambda n: "${" + n + "}"), st.sampled_from(sorted(FAULTS))), max_size=4)
activities = st.fixed_dictionaries(
    {"type": st.sampled_from(["action", "probe"]), "name": st.text(max_size=8)},
    optional={
        "provider": st.one_of(
            st.fixed_dictionaries({"type": st.just("python"), "module": st.sampled_from(["drharness.chaos.actions", "x"]),
                                   "func": st.sampled_from(["inject_fault", "inject_az_outage", "inject_region_outage",
                                                            "inject_meteor", "probe"]),
                                   "arguments": st.one_of(arguments, values)}),
            st.fixed_dictionaries({"type": st.just("process"), "path": st.just("drharness"),
                                   "arguments": st.one_of(st.text(max_size=40), st.just("fault inject az-outage region=${region} az=a"),
                                                          st.lists(st.text(max_size=8), max_size=4))}),
            values),
        "pauses": st.one_of(st.fixed_dictionaries({}, optional={"after": st.one_of(values, st.just("${x}"))}), values),
    })
experiments = st.fixed_dictionaries(
    {"method": st.one_of(st.lists(st.one_of(activities, values), max_size=4), values)},
    optional={"configuration": st.one_of(st.dictionaries(names, st.one_of(values, st.fixed_dictionaries(
        {"type": st.just("env"), "key": st.sampled_from(["DRHARNESS_FUZZ_UNSET", "HOME"])},
        optional={"default": values}))), values),
        "rollbacks": st.one_of(st.lists(activities, max_size=2), values)})


@FUZZ
@given(experiments, st.dictionaries(names, st.text(max_size=10), max_size=3))
def test_experiments_and_variables_plan_or_fail_in_one_line(experiment, overrides):
    os.environ.pop("DRHARNESS_FUZZ_UNSET", None)
    try:
        steps, others = experiment_steps(experiment, "fuzz.json", overrides)
    except (ConfigError, FaultError, UnknownFaultError) as exc:
        assert_one_line(exc, ConfigError, FaultError, UnknownFaultError)
        assert "fuzz.json" in str(exc)
    else:
        assert all(isinstance(s.params, FaultParams) for s in steps) and all("\n" not in o for o in others)


@FUZZ
@given(st.lists(st.text(max_size=12), max_size=4))
def test_variable_words_parse_or_fail_in_one_line(items):
    try:
        parse_variables(items)
    except ConfigError as exc:
        assert_one_line(exc, ConfigError)


# -- command lines ----------------------------------------------------------------------------------

WORDS = ["fault", "inject", "list", "revert", "plan", "sweep", "stop", "report", "monthly", "metrics",
         "--endpoint", "--journal", "--config", "--target", "--live", "--experiment", "--var", "--dry-run", "--all",
         "--reason", "--clear", "--region", "--run", "--reports", "--seed", "--help",
         "region=us-east-1", "az=a", "rate=7", "rate=0.5", "service=s3", "=", "x=", "bucket=", "a=b=c",
         "http://127.0.0.1:9", "ftp://nowhere", "aws", "offline", "nope.toml", "exp.json", "region=${r}", "r=eu-west-1",
         *sorted(FAULTS)]
argvs = st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=10)), min_size=1, max_size=6).map(
    lambda words: [w for w in words if w not in ("world", "deploy", "drill")])
COMMANDS = ("fault", "plan", "sweep", "stop", "report", "revert", "--help")


@pytest.fixture(scope="module")
def cli_home():
    """A directory and environment in which no command can reach an account or a world."""
    with tempfile.TemporaryDirectory() as home:
        root = Path(home)
        (root / "exp.json").write_text(json.dumps({"method": [{
            "type": "action", "name": "x",
            "provider": {"type": "python", "module": "drharness.chaos.actions", "func": "inject_fault",
                         "arguments": {"fault": "region-outage", "params": {"region": "${r}"}}},
        }]}))
        saved = dict(os.environ)
        for name in ("DRHARNESS_LIVE", "DRHARNESS_ENDPOINT", "AWS_ENDPOINT_URL", "DRHARNESS_CONFIG", "DRHARNESS_TARGET"):
            os.environ.pop(name, None)
        os.environ.update({"DRHARNESS_JOURNAL": str(root / "journal"), "DRHARNESS_STOP_FILE": str(root / "STOP"),
                           "DRHARNESS_REPORTS": str(root / "reports"), "AWS_ACCESS_KEY_ID": "testing",
                           "AWS_SECRET_ACCESS_KEY": "testing"})
        cwd = os.getcwd()
        os.chdir(root)
        try:
            yield root
        finally:
            os.chdir(cwd)
            os.environ.clear()
            os.environ.update(saved)


@CLI_FUZZ
@given(st.sampled_from(COMMANDS).flatmap(lambda first: argvs.map(lambda rest: [first, *rest])))
@example(["fault", "inject", "az-outage", "region=us-east-1", "a\nb=1", "--endpoint", "http://127.0.0.1:9"])
def test_command_lines_end_in_an_exit_code_never_a_traceback(cli_home, argv):
    from drharness.cli import main
    from drharness.faults import Journal

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    stderr = err.getvalue()
    assert code in (0, 1, 2), (argv, code, stderr)
    assert "Traceback" not in stderr + out.getvalue(), argv
    if stderr.startswith("drharness: error: "):
        assert code == 2 and stderr.count("\n") == 1, (argv, stderr)
    assert Journal(cli_home / "journal").pending() == [], argv  # nothing half-done
    with contextlib.suppress(FileNotFoundError):
        (cli_home / "STOP").unlink()  # `stop` is allowed to do its job; start the next example clean


def test_a_bad_value_on_the_command_line_is_one_line_with_exit_2(cli_home, capsys):
    from drharness.cli import main

    for argv, expected in (
        (["plan", "--target", "mars"], "target 'mars' is not one of offline, aws"),
        (["plan", "--experiment", "exp.json"], "${r} is not defined in its configuration; add it there or pass --var r=VALUE"),
        (["plan", "--experiment", "exp.json", "--var", "r"], "variable 'r' is not name=value"),
        (["sweep"], "sweep needs a target"),
        (["stop", "--reason", "two\nlines"], "--reason must be one line"),
    ):
        with pytest.raises(SystemExit) as info:
            main(argv)
        err = capsys.readouterr().err
        assert info.value.code == 2 and err.count("\n") == 1 and expected in err, (argv, err)
    main(["plan", "--experiment", "exp.json", "--var", "r=eu-west-1"])
    out = capsys.readouterr().out
    assert "region-outage (method #1 x)" in out and "region eu-west-1" in out
