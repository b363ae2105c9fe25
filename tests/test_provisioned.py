"""Provisioned concurrency: environments initialised ahead of time, used first, kept."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from pylambda import Function, InvalidParameterValueError, Invoker, ResourceNotFoundError


def handler(event, context):
    import os

    time.sleep(event.get("s", 0))
    return {"init": os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"], "pid": os.getpid()}


def test_provisioned_environments_are_ready_before_the_first_call(invoker):
    """put_provisioned_concurrency_config inits N environments; calls use them warm."""
    fn = Function("prov", handler)
    v1 = fn.publish_version()
    config = invoker.put_provisioned_concurrency_config(v1, 2)
    assert config["Status"] == "READY"
    assert config["AllocatedProvisionedConcurrentExecutions"] == 2
    assert len(invoker.environments()) == 2
    r = invoker.invoke(v1, {})
    assert r.payload["init"] == "provisioned-concurrency"
    assert not r.cold_start
    assert r.init_duration_ms is None
    assert "Init Duration" not in r.logs
    assert not r.logs.startswith("INIT_START")


def test_alias_config_and_spill_to_on_demand(invoker):
    """Through an alias; beyond the provisioned count, invocations go on-demand."""
    fn = Function("prov2", handler)
    v1 = fn.publish_version()
    live = fn.create_alias("live", v1)
    invoker.put_provisioned_concurrency_config(live, 1)
    results = []
    threads = [threading.Thread(target=lambda: results.append(invoker.invoke(live, {"s": 0.3}))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    kinds = sorted(r.payload["init"] for r in results)
    assert kinds.count("provisioned-concurrency") == 1
    assert kinds.count("on-demand") == 2
    assert invoker.get_provisioned_concurrency_config("prov2:live")["RequestedProvisionedConcurrentExecutions"] == 1


def test_provisioned_environments_are_not_reaped():
    """Idle reaping skips provisioned environments."""
    with Invoker(idle_ttl=0.1) as inv:
        fn = Function("prov3", handler)
        v1 = fn.publish_version()
        inv.put_provisioned_concurrency_config(v1, 1)
        inv.invoke(v1, {})
        time.sleep(0.6)
        assert len(inv.environments()) == 1


def test_failed_provisioned_environment_is_replaced(invoker):
    """A provisioned environment killed from outside is replaced in the background."""
    fn = Function("prov4", handler)
    v1 = fn.publish_version()
    invoker.put_provisioned_concurrency_config(v1, 1)
    first = invoker.invoke(v1, {})
    (pid,) = [e.pid for e in invoker.environments() if e.id == first.environment_id]  # the host's pid
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    again = invoker.invoke(v1, {})  # EPIPE: moves to a new environment; a replacement is started
    assert again.function_error is None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        config = invoker.get_provisioned_concurrency_config(v1)
        if config["AvailableProvisionedConcurrentExecutions"] >= 1 and all(
            e.pid != pid for e in invoker.environments() if e.provisioned
        ):
            break
        time.sleep(0.05)
    assert invoker.get_provisioned_concurrency_config(v1)["Status"] == "READY"


@pytest.mark.parametrize(
    ("setup", "error", "match"),
    [
        (lambda fn: (fn, 1), InvalidParameterValueError, "unpublished function versions"),
        (lambda fn: (fn.latest, 1), InvalidParameterValueError, "unpublished function versions"),
        (lambda fn: (fn.publish_version(), 0), InvalidParameterValueError, "provisioned_concurrency"),
    ],
)
def test_invalid_configs(invoker, setup, error, match):
    """$LATEST and non-positive counts are refused with Lambda's messages."""
    target, n = setup(Function("prov5", handler))
    with pytest.raises(error, match=match):
        invoker.put_provisioned_concurrency_config(target, n)


def test_provisioned_above_reserved_is_refused(invoker):
    """Provisioned concurrency cannot exceed reserved concurrency."""
    fn = Function("prov6", handler, reserved_concurrency=1)
    v1 = fn.publish_version()
    with pytest.raises(InvalidParameterValueError, match="reservedConcurrentExecution"):
        invoker.put_provisioned_concurrency_config(v1, 2)


def test_delete_config(invoker):
    """Deleting the config ends its idle environments; reading it again is not found."""
    fn = Function("prov7", handler)
    v1 = fn.publish_version()
    invoker.put_provisioned_concurrency_config(v1, 2)
    invoker.delete_provisioned_concurrency_config(v1)
    assert invoker.environments() == []
    with pytest.raises(ResourceNotFoundError):
        invoker.get_provisioned_concurrency_config(v1)


def test_alias_arn_means_the_primary_version(invoker):
    """Provisioning through an alias ARN applies to its primary version, whatever the routing."""
    fn = Function("prov-arn", handler)
    v1 = fn.publish_version()
    fn.update_configuration(description="two")
    v2 = fn.publish_version()
    fn.create_alias("live", v1, routing={v2: 0.5})
    invoker.register(fn)
    for _ in range(6):
        invoker.put_provisioned_concurrency_config(f"{fn.arn}:live", 1)
    assert {e.key[1] for e in invoker.environments()} == {"1"}


def test_provisioned_beyond_the_unreserved_pool_is_refused():
    """Provisioned environments of unreserved functions come out of the account's unreserved concurrency."""
    with Invoker(concurrency_limit=5) as inv:
        a, b = Function("pc_a", handler), Function("pc_b", handler, reserved_concurrency=1)
        c = Function("pc_c", handler)
        inv.register(a, b, c)
        inv.put_provisioned_concurrency_config(a.publish_version(), 2)
        c1 = c.publish_version()
        with pytest.raises(InvalidParameterValueError, match="2 left of concurrency_limit 5"):
            inv.put_provisioned_concurrency_config(c1, 3)  # 5 - 1 reserved - 2 provisioned = 2
        assert len(inv.environments()) == 2  # nothing was started for the refused config
        inv.put_provisioned_concurrency_config(c1, 2)
        assert inv.get_provisioned_concurrency_config(c1)["RequestedProvisionedConcurrentExecutions"] == 2
