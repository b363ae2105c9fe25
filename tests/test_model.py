"""Function, Version and Alias: validation, publishing, ARNs and routing."""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from collections import Counter

import pytest

from pylambda import Alias, Function, InvalidParameterValueError, ResourceNotFoundError, Version

ARN = "arn:aws:lambda:us-east-1:123456789012:function"


def handler(event, context):
    return event


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": ""}, "function name"),
        ({"name": "a" * 65}, "function name"),
        ({"name": "bad name"}, "function name"),
        ({"memory_size": 127}, "memory_size must be an integer from 128 to 10240"),
        ({"memory_size": 10241}, "memory_size"),
        ({"memory_size": 256.0}, "memory_size"),
        ({"timeout": 0}, "timeout must be an integer from 1 to 900"),
        ({"timeout": 901}, "timeout"),
        ({"ephemeral_storage": 511}, "ephemeral_storage must be an integer from 512 to 10240"),
        ({"ephemeral_storage": 10241}, "ephemeral_storage"),
        ({"architecture": "sparc"}, "architecture must be 'x86_64' or 'arm64'"),
        ({"runtime": "nodejs7.x"}, "runtime must be one of"),
        ({"environment": {"1BAD": "x"}}, "environment variable name '1BAD' is invalid"),
        ({"environment": {"A": "x"}}, "at least 2 characters"),
        ({"environment": {"AWS_REGION": "x"}}, "'AWS_REGION' is reserved"),
        ({"environment": {"_HANDLER": "x"}}, "reserved"),
        ({"environment": {"GOOD": 1}}, "must be a str"),
        ({"environment": {"BIG": "x" * 4100}}, "exceeded the 4KB limit. String measured"),
        ({"environment": ["A"]}, "environment must be a dict"),
        ({"reserved_concurrency": -1}, "reserved_concurrency"),
        ({"description": "x" * 257}, "description"),
        ({"handler": "has space.fn"}, "handler must be"),
        ({"handler": ""}, "handler must be"),
        ({"code": "/does/not/exist"}, "code must be a directory or a .zip"),
    ],
)
def test_invalid_configuration_is_refused_at_definition(kwargs, match):
    """Each out-of-range field raises InvalidParameterValueError naming it."""
    args = {"name": "ok", "handler": "app.handler"}
    args.update(kwargs)
    name, handler_ = args.pop("name"), args.pop("handler")
    with pytest.raises(InvalidParameterValueError, match=match) as info:
        Function(name, handler_, **args)
    assert isinstance(info.value, ValueError)


def test_limits_at_the_edges_are_accepted():
    """The boundary values Lambda allows are allowed."""
    fn = Function("edge", "a.b", memory_size=10240, timeout=900, ephemeral_storage=10240, architecture="arm64")
    assert fn.config.memory_size == 10240
    Function("edge2", "a.b", memory_size=128, timeout=1, ephemeral_storage=512)


def test_update_configuration_validates_and_changes_latest():
    """update_configuration makes a new $LATEST and validates the change."""
    fn = Function("f", "app.handler")
    before = fn.latest
    after = fn.update_configuration(memory_size=256, environment={"TABLE": "t"})
    assert after.config.memory_size == 256
    assert after.config.environment == {"TABLE": "t"}
    assert after.revision > before.revision
    assert fn.latest is after
    with pytest.raises(InvalidParameterValueError, match="memory_size"):
        fn.update_configuration(memory_size=5)
    with pytest.raises(InvalidParameterValueError, match="unknown configuration"):
        fn.update_configuration(colour="red")


def test_arns_follow_lambda_formats():
    """Unqualified, version and alias ARNs use region and account."""
    fn = Function("orders", "app.handler", region="eu-west-1", account_id="111122223333")
    assert fn.arn == "arn:aws:lambda:eu-west-1:111122223333:function:orders"
    assert fn.latest.arn == "arn:aws:lambda:eu-west-1:111122223333:function:orders:$LATEST"
    v1 = fn.publish_version()
    assert v1.arn.endswith(":function:orders:1")
    assert fn.create_alias("live", v1).arn.endswith(":function:orders:live")


def test_publish_numbers_versions_and_noop_returns_last(tmp_path):
    """Versions are 1, 2, …; publishing with nothing changed returns the last one."""
    (tmp_path / "app.py").write_text("def handler(e, c):\n    return 1\n")
    fn = Function("pub", "app.handler", code=str(tmp_path))
    v1 = fn.publish_version()
    assert isinstance(v1, Version)
    assert v1.version == "1"
    assert fn.publish_version() is v1
    fn.update_configuration(description="config only")
    v2 = fn.publish_version()
    assert v2.version == "2"
    assert v2.code_sha256 == v1.code_sha256
    (tmp_path / "app.py").write_text("def handler(e, c):\n    return 2\n")
    v3 = fn.publish_version()
    assert v3.version == "3"
    assert v3.code_sha256 != v2.code_sha256
    assert [v.version for v in fn.versions] == ["1", "2", "3"]


def test_code_sha256_is_base64_of_the_package_digest(tmp_path):
    """CodeSha256 of a .zip is base64(sha256(zip bytes)), 44 characters."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "def handler(e, c):\n    return 'zip'\n")
    package = tmp_path / "pkg.zip"
    package.write_bytes(buf.getvalue())
    fn = Function("zipped", "app.handler", code=str(package))
    expected = base64.b64encode(hashlib.sha256(buf.getvalue()).digest()).decode()
    assert fn.publish_version().code_sha256 == expected
    assert len(expected) == 44


def test_published_version_does_not_see_later_edits(tmp_path, invoker):
    """Publishing snapshots a directory: editing files changes $LATEST only."""
    (tmp_path / "app.py").write_text("def handler(e, c):\n    return 'v1'\n")
    fn = Function("snap", "app.handler", code=str(tmp_path))
    v1 = fn.publish_version()
    (tmp_path / "app.py").write_text("def handler(e, c):\n    return 'v2'\n")
    invoker.register(fn)
    assert invoker.invoke(v1).payload == "v1"
    assert invoker.invoke(fn).payload == "v2"


def test_directory_hash_ignores_pycache(tmp_path):
    """Bytecode caches written by imports do not change CodeSha256."""
    (tmp_path / "app.py").write_text("x = 1\n")
    fn = Function("h", "app.handler", code=str(tmp_path))
    before = fn.latest.code_sha256
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"junk")
    assert fn.latest.code_sha256 == before


@pytest.mark.parametrize(
    ("name", "routing", "error", "match"),
    [
        ("123", None, InvalidParameterValueError, "not all digits"),
        ("live", {"2": 2.0}, InvalidParameterValueError, "Member must have value less than or equal to 1.0"),
        ("live", {"2": -0.1}, InvalidParameterValueError, "greater than or equal to 0.0"),
        ("live", {"1": 0.5}, InvalidParameterValueError, "Function version 1 is already included"),
        ("live", {"2": 0.1, "3": 0.1}, InvalidParameterValueError, "cannot be greater than 1"),
        ("live", {"10": 0.1}, ResourceNotFoundError, "Function not found: .*:function:al:10"),
    ],
)
def test_alias_validation(name, routing, error, match):
    """Alias names and routing weights are validated with Lambda's messages."""
    fn = Function("al", "app.handler")
    for i in range(3):
        fn.update_configuration(description=str(i))
        fn.publish_version()
    with pytest.raises(error, match=match):
        fn.create_alias(name, "1", routing=routing)


def test_alias_on_latest_with_routing_is_refused():
    """$LATEST cannot be part of a weighted alias."""
    fn = Function("al2", "app.handler")
    v1 = fn.publish_version()
    with pytest.raises(InvalidParameterValueError, match=r"\$LATEST is not supported"):
        fn.create_alias("live", "$LATEST", routing={v1: 0.5})


def test_alias_duplicate_and_missing():
    """A second alias with the same name, or an unknown alias, is an error."""
    fn = Function("al3", "app.handler")
    fn.create_alias("live", "$LATEST")
    with pytest.raises(InvalidParameterValueError, match="Alias already exists"):
        fn.create_alias("live", "$LATEST")
    with pytest.raises(ResourceNotFoundError):
        fn.get_alias("nope")


def test_alias_routing_splits_by_weight_and_update_clears_it():
    """About `weight` of picks go to the extra version; routing=None clears it."""
    import random

    fn = Function("al4", "app.handler")
    v1 = fn.publish_version()
    fn.update_configuration(description="2")
    v2 = fn.publish_version()
    live = fn.create_alias("live", v1, routing={v2: 0.25})
    assert isinstance(live, Alias)
    assert live.routing == {v2: 0.25}
    rng = random.Random(7)
    picks = Counter(live.pick(rng).version for _ in range(4000))
    assert 800 < picks["2"] < 1200
    assert picks["1"] + picks["2"] == 4000
    live.update(version=v2, routing=None)
    assert live.version is v2
    assert live.routing == {}
    assert {live.pick(rng).version for _ in range(50)} == {"2"}


def test_callable_handler_is_pickled_once_by_value():
    """A callable handler is shipped as cloudpickle bytes; its sha is stable."""
    fn = Function("cb", handler)
    assert fn.latest.code.kind == "callable"
    assert fn.handler.endswith(".handler")
    assert fn.publish_version().code_sha256 == fn.latest.code_sha256


def test_objects_refuse_pickling():
    """Functions are resources, not values: pickling them is refused."""
    import pickle

    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(Function("p", "a.b"))
