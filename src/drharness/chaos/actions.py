"""Chaos Toolkit actions of drharness: inject and revert the fault vocabulary, and give it data to act on.

Every fault goes through the revert journal (written before the fault changes anything) and is
reverted by the drharness control at the end of the run, whatever ends it. Offline the world
applies the faults; live they become FIS experiments (replication-pause, service-fault, az-outage).
Arguments written "@name" name the workload's resources (@data_bucket, @metadata_table,
@primary_region, @secondary_region, ...), so one experiment fits every workload config.
The recoveries under test are in `drharness.chaos.recovery`.
"""

import uuid

from drharness import faults
from drharness.chaos import runtime
from drharness.errors import MeasurementError
from drharness.faults.base import InjectedFault
from drharness.instruments.canary import CanaryLedger
from drharness.results import iso

__all__ = [
    "compromise_credentials",
    "corrupt_data",
    "inject_az_outage",
    "inject_fault",
    "inject_region_outage",
    "inject_service_fault",
    "pause_replication",
    "revert_all_faults",
    "revert_fault",
    "start_canary_ledger",
    "write_test_data",
]

SNAPSHOT_LIMIT = 10_000


def _fault_json(fault: InjectedFault) -> dict:
    return {"id": fault.id, "name": fault.name, "params": fault.params.model_dump(exclude_none=True),
            "target": fault.target, "injected_at": iso(fault.injected_at), "summary": fault.describe(),
            "refs": dict(fault.refs)}


def _inject(configuration: dict | None, name: str, params: dict) -> dict:
    run = runtime.current(configuration)
    resolved = {k: v for k, v in run.resolve(params, name).items() if v not in (None, "")}
    fault = faults.inject(run.backend, name, resolved, run.journal)
    run.note_fault(fault)
    return _fault_json(fault)


def inject_fault(name: str, params: dict = None, configuration: dict = None) -> dict:
    """Inject one fault of the drharness vocabulary; "@name" values in `params` name workload resources.

    Faults: region-outage, az-outage, service-fault, replication-pause, data-corruption,
    credential-compromise (parameters as `drharness fault inject` takes them). Returns the fault.

        {"type": "action", "name": "pause-bucket-replication",
         "provider": {"type": "python", "module": "drharness.chaos.actions", "func": "inject_fault",
                      "arguments": {"name": "replication-pause",
                                    "params": {"bucket": "@data_bucket", "region": "@secondary_region"}}}}
    """
    return _inject(configuration, name, dict(params or {}))


def inject_region_outage(region: str = "@primary_region", configuration: dict = None) -> dict:
    """Make a whole region unreachable: every call to it fails as an unreachable endpoint does (offline only).

        {"type": "action", "name": "primary-region-outage",
         "provider": {"type": "python", "module": "drharness.chaos.actions", "func": "inject_region_outage",
                      "arguments": {"region": "@primary_region"}}}
    """
    return _inject(configuration, "region-outage", {"region": region})


def inject_az_outage(az: str = "a", region: str = "@primary_region", configuration: dict = None) -> dict:
    """Impair one availability zone (letter or name): its instances stop and it takes no new capacity.

    Live: a FIS aws:network:disrupt-connectivity experiment on the zone's subnets within the tag scope.

        {"type": "action", "name": "zone-a-outage",
         "provider": {"type": "python", "module": "drharness.chaos.actions", "func": "inject_az_outage",
                      "arguments": {"az": "a", "region": "@primary_region"}}}
    """
    return _inject(configuration, "az-outage", {"region": region, "az": az})


def inject_service_fault(
    service: str, operation: str = "", mode: str = "error", rate: float = 1.0, region: str = "@primary_region",
    latency_ms: int = 0, error_code: str = "", configuration: dict = None,
) -> dict:
    """Make one service (one operation when given) error, throttle, go unavailable or slow down at `rate`.

    mode: error | throttle | unavailable | latency (with latency_ms). Live: FIS inject-api actions
    (EC2 and Kinesis APIs only).

        {"type": "action", "name": "throttle-table-writes",
         "provider": {"type": "python", "module": "drharness.chaos.actions", "func": "inject_service_fault",
                      "arguments": {"service": "dynamodb", "operation": "PutItem", "mode": "throttle", "rate": 1.0}}}
    """
    params = {"service": service, "operation": operation, "mode": mode, "rate": rate, "region": region,
              "latency_ms": latency_ms or None, "error_code": error_code}
    return _inject(configuration, "service-fault", params)


def pause_replication(store: str = "s3", region: str = "@secondary_region", configuration: dict = None) -> dict:
    """Pause replication of the workload's bucket (store "s3") or global table ("dynamodb") to or from `region`.

    As FIS's aws:s3:bucket-pause-replication / aws:dynamodb:global-table-pause-replication (live: exactly those).

        {"type": "action", "name": "pause-table-replication",
         "provider": {"type": "python", "module": "drharness.chaos.actions", "func": "pause_replication",
                      "arguments": {"store": "dynamodb"}}}
    """
    key = {"s3": "bucket", "dynamodb": "table"}[runtime.check_store(store)]
    value = "@data_bucket" if store == "s3" else "@metadata_table"
    return _inject(configuration, "replication-pause", {key: value, "region": region})


def corrupt_data(store: str = "dynamodb", count: int = 3, seed: int = 0, configuration: dict = None) -> dict:
    """Overwrite `count` items of the table (or objects of the bucket) with corrupted content (offline only).

    The table's items are kept as they were just before, so `restore_table` can check its restore.

        {"type": "action", "name": "corrupt-items",
         "provider": {"type": "python", "module": "drharness.chaos.actions", "func": "corrupt_data",
                      "arguments": {"store": "dynamodb", "count": 5}}}
    """
    run = runtime.current(configuration)
    workload = run.workload
    if runtime.check_store(store) == "dynamodb":
        client = run.target.client("dynamodb", workload.primary_region)
        items: list[dict] = []
        for page in client.get_paginator("scan").paginate(TableName=workload.metadata_table, ConsistentRead=True):
            items.extend(page["Items"])
            if len(items) > SNAPSHOT_LIMIT:
                raise MeasurementError(f"table {workload.metadata_table} holds over {SNAPSHOT_LIMIT} items: too many to "
                                       "keep as the expected state; corrupt a smaller table")
        run.snapshots["dynamodb"] = items
        params = {"table": "@metadata_table", "region": "@primary_region", "count": count, "seed": seed}
    else:
        params = {"bucket": "@data_bucket", "region": "@primary_region", "prefix": "@replication_prefix",
                  "count": count, "seed": seed}
    return _inject(configuration, "data-corruption", params)


def compromise_credentials(user: str = "drharness-compromised", configuration: dict = None) -> dict:
    """Put an access key of IAM user `user` in an attacker's hands until it is isolated (offline only).

        {"type": "action", "name": "leak-an-access-key",
         "provider": {"type": "python", "module": "drharness.chaos.actions", "func": "compromise_credentials"}}
    """
    result = _inject(configuration, "credential-compromise", {"user": user, "region": "@primary_region"})
    run = runtime.current(configuration)
    key = run.compromised.get(result["id"])
    result["access_key"] = runtime.masked_key(key.access_key_id) if key else None  # the key itself stays in the process
    return result


def revert_fault(name: str = "", fault_id: str = "", configuration: dict = None) -> dict:
    """Revert the faults this run injected that match `fault_id` or `name` (every one when both are empty).

    Reverting twice, or a fault already gone, is harmless.

        {"type": "action", "name": "primary-region-back",
         "provider": {"type": "python", "module": "drharness.chaos.actions", "func": "revert_fault",
                      "arguments": {"name": "region-outage"}}}
    """
    run = runtime.current(configuration)
    chosen = [r for r in run.journal.pending()
              if (not fault_id or r.id == fault_id) and (not name or r.name == name)]
    for record in chosen:
        faults.revert(run.backend, record.id, run.journal)
    return {"reverted": [{"id": r.id, "name": r.name} for r in chosen]}


def revert_all_faults(configuration: dict = None) -> dict:
    """Revert every fault of this run's revert journal (the rollback; the control does it again at the end).

        {"type": "action", "name": "revert-every-fault",
         "provider": {"type": "python", "module": "drharness.chaos.actions", "func": "revert_all_faults"}}
    """
    if runtime.active() is None and runtime.refused() is not None:
        return {"reverted": [], "reason": runtime.NOT_OPENED.format(reason=runtime.refused())}
    run = runtime.current(configuration)
    done = faults.revert_pending(run.journal, live_backend=lambda ref: run.backend)
    return {"reverted": done}


def start_canary_ledger(store: str = "dynamodb", interval_s: float = 0.1, configuration: dict = None) -> dict:
    """Start writing sequence-numbered canaries into the primary bucket or table (the RPO instrument).

    `canary_ledger_status` later reads the survivor and measures the data-loss window.

        {"type": "action", "name": "start-canaries",
         "provider": {"type": "python", "module": "drharness.chaos.actions", "func": "start_canary_ledger",
                      "arguments": {"store": "dynamodb", "interval_s": 0.1}},
         "pauses": {"after": 1}}
    """
    run = runtime.current(configuration)
    workload = run.workload
    client = run.target.client(runtime.check_store(store), workload.primary_region)
    interval_s = float(interval_s)  # `--var` hands values over as strings
    if store in run.ledgers:
        raise MeasurementError(f"a {store} canary ledger is already running in this run; one per store")
    if store == "s3":
        prefix = f"{workload.spec.bucket.replication.prefix}_canary/"
        ledger = CanaryLedger.s3(client, workload.data_bucket, prefix=prefix, interval_s=interval_s)
    else:
        spec = workload.spec.table
        ledger = CanaryLedger.dynamodb(client, workload.metadata_table, hash_key=spec.hash_key,
                                       range_key=spec.range_key, interval_s=interval_s)
    run.ledgers[store] = ledger.start()
    return {"store": store, "series": ledger.series, "resource": ledger.store.resource, "interval_seconds": interval_s}


def write_test_data(store: str = "dynamodb", count: int = 20, configuration: dict = None) -> dict:
    """Write `count` test items (or objects under the replicated prefix) into the primary, so there is data to lose.

        {"type": "action", "name": "write-test-items",
         "provider": {"type": "python", "module": "drharness.chaos.actions", "func": "write_test_data",
                      "arguments": {"store": "dynamodb", "count": 20}}}
    """
    run = runtime.current(configuration)
    workload = run.workload
    client = run.target.client(runtime.check_store(store), workload.primary_region)
    batch = uuid.uuid4().hex[:8]
    keys = []
    for n in range(int(count)):
        if store == "s3":
            key = f"{workload.spec.bucket.replication.prefix}_testdata/{batch}/{n:05d}.json"
            client.put_object(Bucket=workload.data_bucket, Key=key, Body=f'{{"n": {n}, "batch": "{batch}"}}'.encode())
        else:
            spec = workload.spec.table
            key = f"testdata#{batch}#{n:05d}"
            item = {spec.hash_key: {"S": f"testdata#{batch}"}, "payload": {"S": f"value {n} of {batch}"}}
            if spec.range_key:
                item[spec.range_key] = {"S": f"{n:05d}"}
            else:  # no sort key: each item its own partition
                item[spec.hash_key] = {"S": key}
            client.put_item(TableName=workload.metadata_table, Item=item)
        keys.append(key)
    return {"store": store, "written": len(keys), "batch": batch}
