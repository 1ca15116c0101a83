"""Monthly and quarterly: one availability zone of a compute environment's region goes down (once per environment).

The multi-AZ Batch compute environment must keep capacity in the zones that stay up, and an embedding
job submitted during the outage must still run to SUCCEEDED. The zone is drawn from the run's seed;
the fault is reverted however the test ends.

Which zone is down is read from the target, never taken from the request: offline, the zones where a
dry-run RunInstances is refused for capacity (what the world's outage does, observed as a client sees
it, so a fault the world took and did not apply impairs nothing); live, the zones of the subnets the FIS
experiment resolved to while it runs (aws:network:disrupt-connectivity). A fault that impairs no zone,
or another zone, is an error.
"""

from __future__ import annotations

import time
import uuid

import pytest
from botocore.exceptions import ClientError

from drharness.deploy import names
from drharness.results.objectives import objectives_for
from drharness.results import Objective
from drharness.waiting import wait_until
from drtests._support import wait_limit

pytestmark = [pytest.mark.monthly, pytest.mark.quarterly, pytest.mark.az, pytest.mark.critical]

SCENARIO = "az"
CAPACITY = "az:compute-capacity"
JOB_COMPLETES = "az:batch-job-completes"
FAULT_REVERTED = "az:fault-reverted"
JOB_DONE_STATES = ("SUCCEEDED", "FAILED")
PROBE_IMAGE = "ami-12c6146b"  # a dry run only asks whether the zone has capacity; no instance starts


def _compute(batch, ec2, name):
    """(state, status, zones of its subnets) of a compute environment."""
    found = batch.describe_compute_environments(computeEnvironments=[name])["computeEnvironments"]
    if not found:
        return "missing", "missing", []
    ce = found[0]
    subnets = (ce.get("computeResources") or {}).get("subnets", [])
    zones = sorted({s["AvailabilityZone"] for s in ec2.describe_subnets(SubnetIds=subnets)["Subnets"]}) if subnets else []
    return str(ce.get("state")), str(ce.get("status")), zones


def _impaired_zones(world, effect, ec2, region, zones):
    """The zones of `region` the target holds down now, as observed, not the zone the test asked for."""
    if world is not None:  # offline: the zones where the world refuses capacity, asked as the workload would
        return {zone for zone in zones if _capacity_refused(ec2, zone)}
    subnets = [arn.rsplit("/", 1)[-1] for arn in effect.resources if ":subnet/" in arn]
    if not effect.took or not subnets:
        return set()
    return {s["AvailabilityZone"] for s in ec2.describe_subnets(SubnetIds=subnets)["Subnets"]}


def _capacity_refused(ec2, zone):
    """A dry-run RunInstances in `zone`: refused for capacity (InsufficientInstanceCapacity) or not."""
    try:
        ec2.run_instances(ImageId=PROBE_IMAGE, InstanceType="t3.micro", MinCount=1, MaxCount=1, DryRun=True,
                          Placement={"AvailabilityZone": zone})
    except ClientError as exc:
        return exc.response.get("Error", {}).get("Code") == "InsufficientInstanceCapacity"
    return False


def _job_through_the_outage(dr_target, dr_record, w, tier, rto, zone):
    """Submit an embedding job while `zone` is down and time it to SUCCEEDED."""
    batch = dr_target.client("batch", w.primary_region)
    job_name = f"drharness-az-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    job_id = batch.submit_job(jobName=job_name, jobQueue=w.job_queue, jobDefinition=names.job_definition(w))["jobId"]

    def finished():
        job = batch.describe_jobs(jobs=[job_id])["jobs"][0]
        return job if job["status"] in JOB_DONE_STATES else None

    outcome = wait_until(finished, wait_limit(dr_target, rto.limit), dr_target.poll_interval_s,
                         what=f"job {job_name} to finish")
    elapsed = time.monotonic() - started
    job = outcome.value or batch.describe_jobs(jobs=[job_id])["jobs"][0]
    succeeded = job["status"] == "SUCCEEDED"
    return dr_record.measure(
        check=JOB_COMPLETES, scenario=SCENARIO, resource=f"batch job queue {w.job_queue}", tier=tier,
        metric="job_seconds", value=elapsed if succeeded else None, unit="s", objective=rto,
        reason=(f"job {job_name} {job['status']} in {elapsed:.3f} s with {zone} down" if succeeded else
                f"job {job_name} ended {job['status']} ({job.get('statusReason') or outcome.reason}) with {zone} down"),
        duration_seconds=elapsed, evidence={"job_id": job_id, "status": job["status"], "impaired_zone": zone},
    )


def test_compute_keeps_capacity_through_an_az_outage(dr_target, dr_compute, dr_fault, fault_took, fault_backend,
                                                     dr_rng, dr_world_client, dr_record):
    """Lose one of its zones: each compute environment stays ENABLED/VALID in the others and a job on its queue succeeds."""
    w = dr_compute  # once per compute environment of the workload
    region, tier = w.primary_region, w.spec.compute.tier
    batch, ec2 = dr_target.client("batch", region), dr_target.client("ec2", region)
    resource = f"batch compute environment {w.compute_environment}"
    rto = objectives_for(w, tier).rto
    _, _, zones = _compute(batch, ec2, w.compute_environment)
    assert zones, f"{resource} has no subnets: nothing to take a zone from"
    zone = dr_rng.choice(zones)
    with dr_fault("az-outage", {"region": region, "az": zone}) as fault:
        effect = fault_took(fault, scenario=SCENARIO, tier=tier)
        state, status, now_zones = _compute(batch, ec2, w.compute_environment)
        impaired = _impaired_zones(dr_world_client, effect, ec2, region, zones)
        took = zone in impaired
        healthy = [z for z in now_zones if z not in impaired]
        usable = len(healthy) if (state, status) == ("ENABLED", "VALID") else 0
        down = ", ".join(sorted(impaired)) or "no zone"
        capacity = dr_record.measure(
            check=CAPACITY, scenario=SCENARIO, resource=resource, tier=tier, metric="healthy_zones_with_capacity",
            value=float(usable) if took else None, unit="zones", verdict=None if took else "error",
            objective=Objective("healthy_zones_with_capacity", 1, "zones", ">=",
                                f"capacity outside the impaired zone {zone}"),
            reason=(f"{resource}: {state}/{status}, subnets in {', '.join(healthy) or 'no other zone'} "
                    f"while the target holds {down} down" if took else
                    f"{resource}: the target holds {down} down, not {zone}: the outage did not take ({effect.detail}), "
                    "nothing measured"),
            evidence={"impaired_zone": zone, "impaired_observed": sorted(impaired), "zones": now_zones,
                      "fault": fault.id, "effect": effect.evidence()},
        )
        # A job timed while the zone is up would time nothing: without the outage there is no job to run.
        completes = _job_through_the_outage(dr_target, dr_record, w, tier, rto, zone) if took else None
    still = fault.id in fault_backend.active_ids()
    # The steady state is back when the fault is gone and, offline, the zone takes capacity again.
    refused = dr_world_client is not None and _capacity_refused(ec2, zone)
    reverted = dr_record.compliance(check=FAULT_REVERTED, resource=f"az-outage {fault.id}", ok=not still and not refused,
                                    expected=f"{zone} back in service (fault reverted)",
                                    actual=("still injected" if still else "reverted") +
                                           (f", {zone} still refuses capacity" if refused else ""),
                                    tier=tier, scenario=SCENARIO, kind="self-check")
    assert capacity.verdict == "pass", capacity.reason
    assert completes is not None and completes.verdict == "pass", completes.reason if completes else capacity.reason
    assert reverted.verdict == "pass", reverted.reason
