"""The live gate of a command that is not a drill (`drharness init --live`, `drharness compare --live`).

A drill's workload config carries its allowlists; these commands take them on the command line
(`--allow-account`, `--allow-region`) and pass the same gate as a drill: opt-in, STS asked first, the
account and every region allowlisted, before the first call that reads or writes the account.
"""

from __future__ import annotations

from typing import Any

from drharness.errors import SafetyError


def open_gated_target(endpoint: str | None, allow_account: str, primary: str, secondary: str,
                      allowed_regions: list[str], command: str, purpose: str) -> Any:
    """An AWS target for `command` once the gate holds; a wrong account is said in the command's words."""
    from drharness.config import Workload, WorkloadFile
    from drharness.safety import mask_account, open_live_target
    from drharness.settings import resolve_settings

    spec = WorkloadFile.model_validate({"primary_region": primary, "secondary_region": secondary,
                                        "tables": [{"replica_regions": []}],
                                        "live": {"allowed_accounts": [allow_account],
                                                 "allowed_regions": allowed_regions}})
    settings = resolve_settings(target="aws", endpoint=endpoint, live=True)
    try:
        return open_live_target(settings, Workload(spec, allow_account, command), endpoint_url=endpoint)
    except SafetyError as exc:
        if "is not in [live].allowed_accounts" not in str(exc):  # the account; opt-in and regions say their own
            raise
        raise SafetyError(f"the credentials are not for account {mask_account(allow_account)} (--allow-account): "
                          f"{purpose}; use that account's credentials or name it") from exc
