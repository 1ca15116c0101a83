"""Build the Allure HTML report from Allure results and the run's records; no AWS call, no re-measurement.

The results are copied to a staging directory, scrubbed, completed with the report files (categories,
environment, executor) and the previous report's history (so trends run over runs), then handed to the
project-local Allure 2 command line. The new report replaces the old one only once it was generated
and scanned clean of account ids and credentials.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from drharness.errors import ReportError
from drharness.reporting.allure import missed_critical
from drharness.reporting.scrub import Finding, Scrubber, scan_tree
from drharness.results import ResultRecord
from drharness.reporting.scrub import mask_account

ALLURE_ENV = "DRHARNESS_ALLURE"
INSTALL_SCRIPT = Path("tools") / "install-allure.sh"
LOCAL_ALLURE = Path(".tools") / "allure" / "node_modules" / ".bin" / "allure"
GENERATE_TIMEOUT_S = 600.0
INSTALL_TIMEOUT_S = 900.0
VERSIONED = ("drharness", "boto3", "botocore", "moto", "allure-pytest", "chaostoolkit")

OBJECTIVE_MISSED = "Objective missed"
OBJECTIVE_NOT_MEASURED = "Objective not measured (timeout or no measurement)"
HARNESS_ERROR = "Harness or infrastructure error"
OTHER_FAILURE = "Other failed check"
OTHER_BROKEN = "Other harness error"
# The verdict reason format of results.judge ("rto 20000 s misses the objective <= 14400 s").
MISSED_PATTERN = r"(?s).*misses the objective.*"
NOT_MEASURED_PATTERN = r"(?s).*(timeout after|no measurement was taken|never verified|not detected).*"
HARNESS_PATTERN = (
    r"(?s).*(EndpointConnectionError|ConnectionError|ConnectTimeout|ReadTimeout|ConnectionRefused|"
    r"Connection refused|Could not connect|BotoCoreError|ClientError|botocore|NoCredentialsError|"
    r"TimeoutError|Timeout|timed out|WorldError|TargetError|DeployError|FaultError|ProcedureError|"
    r"MeasurementError|SafetyError|ConfigError).*"
)


@dataclass(frozen=True)
class Category:
    """An Allure category: results of these statuses whose message matches the regex (all if none)."""

    name: str
    statuses: tuple[str, ...]
    message_regex: str | None = None

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {"name": self.name, "matchedStatuses": list(self.statuses)}
        if self.message_regex:
            data["messageRegex"] = self.message_regex
        return data

    def matches(self, status: str, message: str) -> bool:
        """Match as Allure does: status listed, and the whole message matching the regex."""
        if status not in self.statuses:
            return False
        return self.message_regex is None or re.fullmatch(self.message_regex, message or "") is not None


CATEGORIES: tuple[Category, ...] = (
    Category(OBJECTIVE_MISSED, ("failed",), MISSED_PATTERN),
    Category(OBJECTIVE_NOT_MEASURED, ("failed",), NOT_MEASURED_PATTERN),
    Category(HARNESS_ERROR, ("broken",), HARNESS_PATTERN),
    Category(OTHER_FAILURE, ("failed",)),
    Category(OTHER_BROKEN, ("broken",)),
)


def category_of(status: str, message: str) -> str | None:
    """The first category a result falls in (Allure shows a result under the first one that matches)."""
    return next((c.name for c in CATEGORIES if c.matches(status, message)), None)


def categories_json() -> str:
    return json.dumps([c.to_json() for c in CATEGORIES], indent=2)


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def environment_properties(records: Sequence[ResultRecord], regions: Sequence[str], accounts: Sequence[str]) -> str:
    """The report's Environment widget: target, regions, masked account, run, verdict counts, versions."""
    verdicts = Counter(r.verdict for r in records)
    entries = {
        "target": ", ".join(sorted({r.target for r in records})) or "unknown",
        "regions": ", ".join(regions) or "unknown",
        "account": ", ".join(mask_account(a) for a in accounts) or "unknown",
        "run": ", ".join(sorted({r.run_id for r in records if r.run_id})) or "unknown",
        "records": ", ".join(f"{verdicts[v]} {v}" for v in ("pass", "fail", "error", "info") if verdicts[v]) or "none",
        **versions(),
    }
    return "".join(f"{key}={_properties_value(value)}\n" for key, value in entries.items())


def _properties_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", " ")


def executor(env: Mapping[str, str], previous_runs: int) -> dict[str, object]:
    """Who ran this: the CI run (GitHub Actions, GitLab CI) with its link, or a local run."""
    build_order = previous_runs + 1
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_SERVER_URL") and env.get("GITHUB_REPOSITORY"):
        url = f"{env['GITHUB_SERVER_URL']}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
        return {"name": "GitHub Actions", "type": "github", "url": env["GITHUB_SERVER_URL"],
                "buildOrder": int(env.get("GITHUB_RUN_NUMBER") or build_order),
                "buildName": f"{env.get('GITHUB_WORKFLOW', 'workflow')} #{env.get('GITHUB_RUN_NUMBER', env['GITHUB_RUN_ID'])}",
                "buildUrl": url, "reportName": "drharness DR report"}
    if env.get("CI_JOB_URL"):
        return {"name": "GitLab CI", "type": "gitlab", "url": env.get("CI_SERVER_URL", ""),
                "buildOrder": int(env.get("CI_PIPELINE_IID") or build_order),
                "buildName": f"{env.get('CI_JOB_NAME', 'job')} #{env.get('CI_JOB_ID', '')}".strip(),
                "buildUrl": env["CI_JOB_URL"], "reportName": "drharness DR report"}
    return {"name": "local", "type": "local", "buildOrder": build_order,
            "buildName": f"drharness run #{build_order}", "reportName": "drharness DR report"}


def trend_runs(report_dir: Path) -> int:
    """How many runs the report's history trend holds (0 without a previous report)."""
    path = report_dir / "history" / "history-trend.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0
    return len(data) if isinstance(data, list) else 0


def critical_misses(records: Sequence[ResultRecord]) -> list[ResultRecord]:
    """Records of a critical-tier objective that was missed: the quality gate fails on any."""
    return [r for r in records if missed_critical(r)]


# ---- the Allure command line -----------------------------------------------------------------------


def project_root(start: Path | None = None) -> Path | None:
    """The checkout holding tools/install-allure.sh: from `start` (cwd) upwards, else beside the package."""
    candidates = [*(start or Path.cwd()).resolve().parents]
    candidates.insert(0, (start or Path.cwd()).resolve())
    candidates.append(Path(__file__).resolve().parents[3])
    return next((c for c in candidates if (c / INSTALL_SCRIPT).is_file()), None)


def find_allure(root: Path | None) -> Path | None:
    """The Allure 2 command: DRHARNESS_ALLURE, else the project-local install, else `allure` on PATH."""
    if os.environ.get(ALLURE_ENV):
        path = Path(os.environ[ALLURE_ENV])
        if not path.is_file():
            raise ReportError(f"{ALLURE_ENV}={path} is not a file; point it at the Allure 2 command or unset it")
        return path
    if root is not None and (root / LOCAL_ALLURE).is_file():
        return root / LOCAL_ALLURE
    on_path = shutil.which("allure")
    return Path(on_path) if on_path else None


def ensure_allure(root: Path | None, echo=print) -> Path:  # type: ignore[no-untyped-def]
    """The Allure command, installed project-locally with tools/install-allure.sh when absent."""
    found = find_allure(root)
    if found is not None:
        return found
    if root is None:
        raise ReportError(f"the Allure command line is not installed and {INSTALL_SCRIPT} was not found from "
                          f"{Path.cwd()}; run from the repository root, or set {ALLURE_ENV} to an Allure 2 command")
    echo(f"installing the Allure command line into {root / '.tools' / 'allure'} ...")
    try:
        done = subprocess.run(["bash", str(root / INSTALL_SCRIPT)], capture_output=True, text=True,
                              timeout=INSTALL_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ReportError(f"{INSTALL_SCRIPT} could not run: {exc}") from exc
    found = find_allure(root)
    if done.returncode != 0 or found is None:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise ReportError(f"{INSTALL_SCRIPT} failed: {detail[-1] if detail else f'exit {done.returncode}'}")
    return found


def _check_java() -> None:
    java = Path(os.environ["JAVA_HOME"]) / "bin" / "java" if os.environ.get("JAVA_HOME") else None
    if not ((java and java.is_file()) or shutil.which("java")):
        raise ReportError("the Allure 2 command line needs Java (17 or later) on PATH or in JAVA_HOME; "
                          "install it, e.g. apt-get install -y openjdk-17-jre-headless")


# ---- building the report ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildOutcome:
    report_dir: Path
    results: int
    trend_runs: int
    scrubbed_files: int


def build_report(
    results_dir: Path,
    output_dir: Path,
    records: Sequence[ResultRecord],
    *,
    regions: Sequence[str] = (),
    accounts: Sequence[str] = (),
    allure: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> BuildOutcome:
    """Generate `output_dir` from `results_dir`, carrying the previous report's history forward."""
    results_dir, output_dir = Path(results_dir), Path(output_dir)
    results = sorted(results_dir.glob("*-result.json")) if results_dir.is_dir() else []
    if not results:
        raise ReportError(f"no Allure results in {results_dir}: run the DR suites with "
                          f"`pytest --alluredir {results_dir}`, or write game-day results there first")
    command = allure or ensure_allure(project_root())
    _check_java()
    scrubber = Scrubber(tuple(accounts))
    staging = output_dir.with_name(output_dir.name + ".staging")
    fresh = output_dir.with_name(output_dir.name + ".new")
    for leftover in (staging, fresh):
        shutil.rmtree(leftover, ignore_errors=True)
    try:
        shutil.copytree(results_dir, staging, ignore=shutil.ignore_patterns("history", "*.tmp"))
        scrubbed = scrubber.tree(staging)
        previous = trend_runs(output_dir)
        if (output_dir / "history").is_dir():
            shutil.copytree(output_dir / "history", staging / "history")
        (staging / "categories.json").write_text(categories_json(), encoding="utf-8")
        (staging / "environment.properties").write_text(
            scrubber.text(environment_properties(records, regions, accounts)), encoding="utf-8")
        (staging / "executor.json").write_text(
            scrubber.text(json.dumps(executor(os.environ if env is None else env, previous), indent=2)), encoding="utf-8")
        _generate(command, staging, fresh)
        findings = scan_tree(fresh, accounts)
        if findings:
            raise ReportError(_findings_message(findings, fresh))
        shutil.rmtree(output_dir, ignore_errors=True)
        fresh.replace(output_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(fresh, ignore_errors=True)
    return BuildOutcome(output_dir, len(results), trend_runs(output_dir), scrubbed)


def _generate(command: Path, results: Path, output: Path) -> None:
    try:
        done = subprocess.run([str(command), "generate", str(results), "-o", str(output), "--clean"],
                              capture_output=True, text=True, timeout=GENERATE_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ReportError(f"{command} generate could not run: {exc}") from exc
    if done.returncode != 0 or not (output / "index.html").is_file():
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise ReportError(f"{command} generate failed (exit {done.returncode}): "
                          f"{detail[-1] if detail else 'no index.html written'}")


def _findings_message(findings: Sequence[Finding], root: Path) -> str:
    shown = "; ".join(f"{f.path.relative_to(root)}:{f.line} {f.kind}" for f in findings[:5])
    return (f"the generated report still holds {len(findings)} account id or credential string(s) ({shown}); "
            "it was not published: find the unmasked text in the Allure results and report the gap in scrub.py")
