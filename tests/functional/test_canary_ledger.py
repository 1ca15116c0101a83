"""CanaryLedger proven against the world's ground truth: the exact lost writes and the data-loss window."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from drharness.config import load_workload
from drharness.errors import MeasurementError
from drharness.instruments import (
    DETECTED,
    FAULT_INJECTED,
    RESTORED,
    CanaryLedger,
    LedgerAssessment,
    Timeline,
    s3_write_read_probe,
)
from drharness.instruments.canary import NO_CANARY_BEFORE_FAULT, NONE_SURVIVED
from drharness.results.objectives import objectives_for
from drharness.waiting import wait_until

pytestmark = [pytest.mark.timing, pytest.mark.xdist_group("timing")]  # one after another: tests/conftest.py

PRIMARY, SECONDARY = "us-east-1", "us-west-2"
SRC, DST, TABLE = "canary-src", "canary-dst", "canary-meta"
INTERVAL = 0.05
ROLE = "arn:aws:iam::123456789012:role/replication"


@pytest.fixture
def buckets(target: Any) -> tuple[Any, Any]:
    """A source bucket replicating `embeddings/` to a bucket in the secondary region."""
    primary, secondary = target.client("s3", PRIMARY), target.client("s3", SECONDARY)
    primary.create_bucket(Bucket=SRC)
    secondary.create_bucket(Bucket=DST, CreateBucketConfiguration={"LocationConstraint": SECONDARY})
    for client, bucket in ((primary, SRC), (secondary, DST)):
        client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    primary.put_bucket_replication(
        Bucket=SRC,
        ReplicationConfiguration={
            "Role": ROLE,
            "Rules": [{"ID": "r1", "Priority": 1, "Status": "Enabled", "Filter": {"Prefix": "embeddings/"},
                       "DeleteMarkerReplication": {"Status": "Enabled"},
                       "Destination": {"Bucket": f"arn:aws:s3:::{DST}"}}],
        },
    )
    return primary, secondary


@pytest.fixture
def global_table(target: Any) -> tuple[Any, Any]:
    """A pk/sk table in the primary region with a global-table replica in the secondary."""
    primary, secondary = target.client("dynamodb", PRIMARY), target.client("dynamodb", SECONDARY)
    primary.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    primary.update_table(TableName=TABLE, ReplicaUpdates=[{"Create": {"RegionName": SECONDARY}}])
    return primary, secondary


def _acked(ledger: CanaryLedger) -> int:
    return sum(1 for c in ledger.canaries() if c.acknowledged)


def _failed(ledger: CanaryLedger) -> int:
    return sum(1 for c in ledger.canaries() if c.error)


def _run_into_outage(world: Any, ledger: CanaryLedger, pause: dict[str, str]) -> float:
    """Write canaries, pause replication, keep writing, take the primary region down; return the outage time."""
    ledger.start()
    try:
        assert wait_until(lambda: _acked(ledger) >= 8, 10, 0.01).ok
        world.faults.inject("replication-pause", pause)
        held_from = _acked(ledger)
        assert wait_until(lambda: _acked(ledger) >= held_from + 8, 10, 0.01).ok
        outage = world.faults.inject("region-outage", {"region": PRIMARY})
        assert wait_until(lambda: _failed(ledger) >= 2, 10, 0.01).ok
    finally:
        ledger.stop()
    return outage.injected_at


def _truth_loss(records: list[Any], seq_of: Any, outage_at: float) -> tuple[list[int], float]:
    """(sequences the primary accepted but the secondary never got, the true data-loss window)."""
    assert records, "the world recorded no canary writes"
    lost = sorted(seq_of(r.key) for r in records if SECONDARY not in r.replicated_at)
    replicated = [r for r in records if SECONDARY in r.replicated_at]
    assert all(r.replicated_at[SECONDARY] <= outage_at for r in replicated)
    window = outage_at - max(r.accepted_at for r in replicated)
    return lost, window


def test_s3_lost_writes_and_window_match_ground_truth(world: Any, buckets: tuple[Any, Any]) -> None:
    primary, secondary = buckets
    ledger = CanaryLedger.s3(primary, SRC, interval_s=INTERVAL)
    try:
        outage_at = _run_into_outage(world, ledger, {"bucket": SRC})
        assessment = ledger.assess(secondary, outage_at, resource=DST)
    finally:
        world.faults.revert_all()

    folder = f"embeddings/_canary/{ledger.series}/"
    records = [r for r in world.truth.writes("s3", SRC) if r.key.startswith(folder)]
    lost, window = _truth_loss(records, lambda key: int(key[len(folder):]), outage_at)

    assert lost and list(assessment.lost_sequences) == lost
    assert assessment.data_loss_window_seconds is not None
    assert abs(assessment.data_loss_window_seconds - window) <= INTERVAL
    assert assessment.canaries_failed >= 2
    failed = {c.seq for c in ledger.canaries() if c.error}
    assert not failed & set(assessment.lost_sequences), "a failed write is never counted as written and lost"
    assert assessment.newest_present_seq == max(int(r.key[len(folder):]) for r in records if SECONDARY in r.replicated_at)
    assert assessment.region == SECONDARY and assessment.resource == DST and not assessment.window_is_lower_bound


def test_dynamodb_lost_writes_and_window_match_ground_truth(world: Any, global_table: tuple[Any, Any]) -> None:
    primary, secondary = global_table
    ledger = CanaryLedger.dynamodb(primary, TABLE, interval_s=INTERVAL)
    try:
        outage_at = _run_into_outage(world, ledger, {"table": TABLE})
        assessment = ledger.assess(secondary, outage_at)
    finally:
        world.faults.revert_all()

    partition = f"canary#{ledger.series}"
    records = [r for r in world.truth.writes("dynamodb", TABLE)
               if r.region == PRIMARY and json.loads(r.key)["pk"]["S"] == partition]
    lost, window = _truth_loss(records, lambda key: int(json.loads(key)["sk"]["S"]), outage_at)

    assert lost and list(assessment.lost_sequences) == lost
    assert assessment.data_loss_window_seconds is not None
    assert abs(assessment.data_loss_window_seconds - window) <= INTERVAL
    assert assessment.store == "dynamodb" and assessment.resource == TABLE


def test_state_at_matches_what_the_primary_had_accepted(world: Any, buckets: tuple[Any, Any]) -> None:
    primary, _ = buckets
    with CanaryLedger.s3(primary, SRC, interval_s=INTERVAL) as ledger:
        assert wait_until(lambda: _acked(ledger) >= 12, 10, 0.01).ok
    canaries = ledger.canaries()
    folder = f"embeddings/_canary/{ledger.series}/"
    records = [r for r in world.truth.writes("s3", SRC) if r.key.startswith(folder)]

    def truth_at(at: float) -> set[int]:
        return {int(r.key[len(folder):]) for r in records if r.accepted_at <= at}

    # Between one acknowledgement and the next write, the ledger knows the state exactly.
    for before, after in zip(canaries[3:9], canaries[4:10]):
        assert before.acknowledged_at is not None
        gap = before.acknowledged_at + (after.written_at - before.acknowledged_at) / 2
        assert ledger.state_at(gap) == truth_at(gap.timestamp()) == set(range(1, before.seq + 1))
        assert ledger.uncertain_at(gap) == frozenset()
    # At any moment, the truth lies between what was acknowledged and what was issued.
    for canary in canaries[2:10]:
        moment = canary.written_at + dt.timedelta(milliseconds=1)
        settled, uncertain = ledger.state_at(moment), ledger.uncertain_at(moment)
        assert settled <= truth_at(moment.timestamp()) <= settled | uncertain


def test_without_a_fault_nothing_is_lost_and_canaries_carry_their_sequence(world: Any, buckets: tuple[Any, Any]) -> None:
    primary, secondary = buckets
    with CanaryLedger.s3(primary, SRC, interval_s=INTERVAL) as ledger:
        assert wait_until(lambda: _acked(ledger) >= 5, 10, 0.01).ok
    assert world.settle(5)
    last = ledger.canaries()[-1]
    assessment = ledger.assess(secondary, dt.datetime.now(dt.timezone.utc), resource=DST)
    assert assessment.lost_sequences == () and assessment.canaries_failed == 0
    assert assessment.newest_present_seq == last.seq == assessment.canaries_written
    body = json.loads(secondary.get_object(Bucket=DST, Key=last.key)["Body"].read())
    assert body["seq"] == last.seq and dt.datetime.fromisoformat(body["written_at"]).tzinfo is not None

    objective = objectives_for(load_workload(), "critical").rpo
    record = assessment.to_record(objective, scenario="steady-state", tier="critical", target="offline")
    assert record.verdict == "pass" and record.metric == "rpo" and record.unit == "s"
    assert record.value == assessment.data_loss_window_seconds and record.objective == 3600
    assert record.evidence["lost_writes"] == 0


def test_a_survivor_with_no_canary_gives_a_lower_bound_window(world: Any, buckets: tuple[Any, Any]) -> None:
    primary, secondary = buckets
    world.faults.inject("replication-pause", {"bucket": SRC})
    try:
        with CanaryLedger.s3(primary, SRC, interval_s=INTERVAL) as ledger:
            assert wait_until(lambda: _acked(ledger) >= 3, 10, 0.01).ok
        fault_time = dt.datetime.now(dt.timezone.utc)
        assessment: LedgerAssessment = ledger.assess(secondary, fault_time, resource=DST)
    finally:
        world.faults.revert_all()
    first = ledger.canaries()[0]
    assert assessment.newest_present_seq is None and assessment.window_is_lower_bound
    assert assessment.reason.startswith(NONE_SURVIVED)
    assert assessment.data_loss_window_seconds == pytest.approx((fault_time - first.written_at).total_seconds())
    assert list(assessment.lost_sequences) == [c.seq for c in ledger.canaries() if c.acknowledged]


def test_a_fault_before_any_canary_has_no_measurement(buckets: tuple[Any, Any]) -> None:
    primary, secondary = buckets
    ledger = CanaryLedger.s3(primary, SRC, interval_s=INTERVAL)
    assessment = ledger.assess(secondary, dt.datetime.now(dt.timezone.utc), resource=DST)
    assert assessment.data_loss_window_seconds is None and assessment.reason == NO_CANARY_BEFORE_FAULT
    record = assessment.to_record(None, scenario="s", tier=None, target="offline")
    assert record.verdict == "fail" and record.reason == NO_CANARY_BEFORE_FAULT


def test_an_unreadable_survivor_is_a_measurement_error(buckets: tuple[Any, Any]) -> None:
    primary, secondary = buckets
    ledger = CanaryLedger.s3(primary, SRC, interval_s=INTERVAL)
    ledger.write_now()
    with pytest.raises(MeasurementError, match="cannot list canaries .* no-such-bucket"):
        ledger.assess(secondary, dt.datetime.now(dt.timezone.utc), resource="no-such-bucket")


def test_timeline_and_ledger_through_a_region_outage_match_the_world(world: Any, buckets: tuple[Any, Any]) -> None:
    """The drill's shape: the RTO clock and the ledger around one outage, checked against the world's fault record."""
    primary, secondary = buckets
    timeline = Timeline.start("region-outage")
    ledger = CanaryLedger.s3(primary, SRC, interval_s=INTERVAL).start()
    try:
        assert wait_until(lambda: _acked(ledger) >= 5, 10, 0.01).ok
        fault = world.faults.inject("region-outage", {"region": PRIMARY})
        injected = timeline.mark(FAULT_INJECTED, fault.id)
        assert timeline.detect(lambda: primary.head_bucket(Bucket=SRC), timeout_s=5, interval_s=0.02).ok
        # While the region is down the primary cannot be verified: a failed verdict with its reason, in time.
        down = Timeline.start("primary while down")
        down.mark(FAULT_INJECTED)
        unverified = down.verify(s3_write_read_probe(primary, SRC), timeout_s=0.3, interval_s=0.05)
        assert not unverified.verified and unverified.reason.startswith("timeout after 0.3 s")
        reverted = world.faults.revert(fault.id)
        timeline.mark(RESTORED, "region back")
        result = timeline.verify(s3_write_read_probe(primary, SRC), timeout_s=5, interval_s=0.02)
    finally:
        ledger.stop()
        world.faults.revert_all()

    assert reverted is not None and reverted.reverted_at is not None
    outage_seconds = reverted.reverted_at - fault.injected_at
    assert result.verified and result.rto_seconds is not None
    # Recovery can be seen no sooner than the region came back, and within a few probe rounds of it.
    assert outage_seconds - 0.01 <= result.rto_seconds <= outage_seconds + 1.0
    assert result.mark(DETECTED) is not None and injected.at.timestamp() == pytest.approx(fault.injected_at, abs=0.05)
    assert ledger.assess(secondary, injected, resource=DST).canaries_failed >= 1
    record = result.to_record(objectives_for(load_workload(), "critical").rto, scenario="region-outage",
                              resource=SRC, tier="critical", target="offline")
    assert record.verdict == "pass" and record.value == result.rto_seconds


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(MeasurementError, match="interval"):
        CanaryLedger.s3(object(), SRC, interval_s=0)
    ledger = CanaryLedger.s3(object(), SRC)
    with pytest.raises(MeasurementError, match="no timezone"):
        ledger.state_at(dt.datetime(2024, 1, 1))


def test_a_table_without_a_sort_key_gives_the_exact_lost_writes_too(world: Any, target: Any) -> None:
    """One partition per canary, found by a filtered Scan: lost writes and window against ground truth."""
    primary = target.client("dynamodb", PRIMARY)
    primary.create_table(TableName="hash-only", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
                         StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    primary.update_table(TableName="hash-only", ReplicaUpdates=[{"Create": {"RegionName": SECONDARY}}])
    secondary = target.client("dynamodb", SECONDARY)
    ledger = CanaryLedger.dynamodb(primary, "hash-only", hash_key="id", range_key=None, interval_s=INTERVAL)
    try:
        outage_at = _run_into_outage(world, ledger, {"table": "hash-only"})
        assessment = ledger.assess(secondary, outage_at)
    finally:
        world.faults.revert_all()
    prefix = f"canary#{ledger.series}#"
    records = [r for r in world.truth.writes("dynamodb", "hash-only")
               if r.region == PRIMARY and json.loads(r.key)["id"]["S"].startswith(prefix)]
    lost, window = _truth_loss(records, lambda key: int(json.loads(key)["id"]["S"][len(prefix):]), outage_at)
    assert lost and list(assessment.lost_sequences) == lost
    assert assessment.data_loss_window_seconds is not None
    assert abs(assessment.data_loss_window_seconds - window) <= INTERVAL
