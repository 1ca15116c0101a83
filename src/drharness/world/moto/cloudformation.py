"""CloudFormation's conditional resources, as AWS treats them on a stack update.

When a stack update turns a resource's `Condition` false, CloudFormation deletes the resource; when
it turns true again, the resource is created. moto creates a resource whose condition became true
(its resource map builds resources lazily) but keeps one whose condition became false, so a pilot
light that was switched on could never be switched off again. `install()` wraps moto's update so
that, after moto's own update, every resource whose condition is now false is deleted, in as many
passes as dependencies need, as moto deletes the resources an update removes.

moto also deletes no Batch job queue or compute environment with its stack (its Batch models have no
CloudFormation delete), so a deleted or switched-off DR stack kept its compute. The resource map's
delete removes them from moto's Batch backend, queue before environment, as CloudFormation would.
"""

from __future__ import annotations

import functools
from typing import Any

from moto.batch.models import ComputeEnvironment, JobQueue, batch_backends
from moto.cloudformation.parsing import MAX_UPDATE_ATTEMPTS, ResourceMap

_INSTALLED = "_drharness_conditions"


def _delete_switched_off(resource_map: Any, template: dict[str, Any]) -> None:
    pending = [name for name, body in template.get("Resources", {}).items()
               if body.get("Condition") and not resource_map.lazy_condition_map[body["Condition"]]
               and resource_map._parsed_resources.get(name) is not None]
    last: Exception | None = None
    for _ in range(MAX_UPDATE_ATTEMPTS):
        if not pending:
            return
        for name in list(pending):
            try:
                resource_map._delete_resource(resource_map._parsed_resources[name], template["Resources"][name])
            except Exception as exc:  # a dependency still in place: moto's own update retries the same way
                last = exc
                continue
            del resource_map._parsed_resources[name]
            pending.remove(name)
    if pending and last is not None:
        raise last


def _delete_batch(resource_map: Any, resource: Any) -> bool:
    """Delete a Batch queue or environment the stack made; False: not a Batch resource."""
    backend = batch_backends[resource_map._account_id][resource_map._region_name]
    if isinstance(resource, JobQueue):
        backend.delete_job_queue(resource.arn)
    elif isinstance(resource, ComputeEnvironment):
        if any(resource.arn in [env["computeEnvironment"] for env in queue.env_order_json]
               for queue in backend._job_queues.values()):
            raise RuntimeError(f"compute environment {resource.name} is still used by a job queue")
        backend.delete_compute_environment(resource.arn)
    else:
        return False
    return True


def install() -> None:
    """Make moto's stack update delete the resources whose condition it turned false (once per process)."""
    if getattr(ResourceMap, _INSTALLED, False):
        return
    original_update, original_delete = ResourceMap.update, ResourceMap._delete_resource

    @functools.wraps(original_update)
    def update(self: Any, template: dict[str, Any], parameters: dict[str, Any] | None = None) -> None:
        original_update(self, template, parameters)
        _delete_switched_off(self, template)

    @functools.wraps(original_delete)
    def delete_resource(self: Any, parsed_resource: Any, resource_json: dict[str, Any]) -> None:
        if not _delete_batch(self, parsed_resource):
            original_delete(self, parsed_resource, resource_json)

    ResourceMap.update = update  # type: ignore[method-assign]
    ResourceMap._delete_resource = delete_resource  # type: ignore[method-assign]
    setattr(ResourceMap, _INSTALLED, True)
