"""Layers on sys.path as Lambda's /opt, and dependencies="isolated" with a cached requirements.txt install."""

from __future__ import annotations

import sys
import textwrap
import zipfile

import pytest

from pylambda import Function, InvalidParameterValueError

PROBE = textwrap.dedent(
    """
    import sys
    def handler(event, context):
        out = {"path": sys.path[:6]}
        for name in event.get("imports", []):
            try:
                module = __import__(name)
                out[name] = getattr(module, "WHO", module.__name__)
            except ImportError as e:
                out[name] = "missing: " + str(e)
        return out
    """
)


@pytest.fixture
def code(tmp_path):
    """A code directory with the probe handler."""
    directory = tmp_path / "code"
    directory.mkdir()
    (directory / "app.py").write_text(PROBE)
    return directory


def _layer(root, name, files):
    for rel, text in files.items():
        path = root / name / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / name


def test_layers_come_after_the_code_later_layer_first(tmp_path, code, lambda_invoker):
    """python/ and python/lib/python3.X/site-packages of each layer follow the code; a later layer wins."""
    site = f"python/lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"
    first = _layer(tmp_path, "first", {"python/shared.py": "WHO = 'first'", "python/only_first.py": "WHO = 'one'"})
    second = _layer(tmp_path, "second", {f"{site}/shared.py": "WHO = 'second'"})
    zipped = tmp_path / "third.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("python/zipped_mod.py", "WHO = 'from zip'")
    (code / "shared.py").write_text("WHO = 'code'")
    fn = Function("layered", "app.handler", code=str(code), layers=[str(first), str(second), str(zipped)])
    lambda_invoker.register(fn)
    out = lambda_invoker.invoke(fn, {"imports": ["shared", "only_first", "zipped_mod"]}).payload
    assert out["shared"] == "code"  # the code comes first
    assert out["only_first"] == "one"
    assert out["zipped_mod"] == "from zip"
    assert out["path"][1] == str(second / site)  # site-packages of every layer, the last layer first
    assert out["path"][2].endswith("python")  # then python/: the zip (extracted), second, first
    assert out["path"][3:5] == [str(second / "python"), str(first / "python")]
    (code / "shared.py").unlink()
    fn.reload_code()
    assert lambda_invoker.invoke(fn, {"imports": ["shared"]}).payload["shared"] == "second"


# fmt: off
BAD_LAYERS = [
    ("six-layers", lambda d: [str(d)] * 6, "at most 5 layers"),
    ("missing", lambda d: [str(d / "nope")], "neither a directory nor a .zip"),
    ("not-a-list", lambda d: str(d), "must be a list"),
]
# fmt: on


@pytest.mark.parametrize(("case", "layers", "message"), BAD_LAYERS, ids=[b[0] for b in BAD_LAYERS])
def test_bad_layers_are_refused(code, case, layers, message):
    """More than 5 layers, a missing path or a string instead of a list fail at definition time."""
    with pytest.raises(InvalidParameterValueError, match=message):
        Function("f", "app.handler", code=str(code), layers=layers(code))


def test_isolated_sees_no_caller_packages(code, lambda_invoker):
    """dependencies='isolated' hides the caller's packages (pytest) but keeps the runtime's boto3 and the stdlib."""
    fn = Function("iso", "app.handler", code=str(code), dependencies="isolated")
    shared = Function("shared", "app.handler", code=str(code))
    lambda_invoker.register(fn, shared)
    out = lambda_invoker.invoke(fn, {"imports": ["pytest", "json", "boto3", "botocore"]}).payload
    assert out["pytest"] == "missing: No module named 'pytest'"
    assert out["json"] == "json"
    assert out["boto3"] == "boto3"
    assert out["botocore"] == "botocore"
    assert lambda_invoker.invoke(shared, {"imports": ["pytest"]}).payload["pytest"] == "pytest"


def test_isolated_missing_package_is_import_module_error(tmp_path, lambda_invoker):
    """A module importing a package the isolated environment lacks fails init with Runtime.ImportModuleError."""
    (tmp_path / "app.py").write_text("import pytest\ndef handler(event, context):\n    return 1\n")
    fn = Function("needs-pytest", "app.handler", code=str(tmp_path), dependencies="isolated")
    lambda_invoker.register(fn)
    result = lambda_invoker.invoke(fn)
    assert result.payload["errorType"] == "Runtime.ImportModuleError"
    assert "No module named 'pytest'" in result.payload["errorMessage"]


@pytest.fixture
def wheelhouse(tmp_path):
    """A directory holding one tiny wheel, `tinydep` 1.0, written here by hand (no build backend, no index)."""
    house = tmp_path / "wheels"
    house.mkdir()
    files = {
        "tinydep/__init__.py": "WHO = 'tinydep 1.0'\n",
        "tinydep-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: tinydep\nVersion: 1.0\n",
        "tinydep-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{name},," + "\n" for name in [*files, "tinydep-1.0.dist-info/RECORD"])
    with zipfile.ZipFile(house / "tinydep-1.0-py3-none-any.whl", "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
        zf.writestr("tinydep-1.0.dist-info/RECORD", record)
    return house


def test_requirements_install_once_into_a_cache(tmp_path, code, wheelhouse, lambda_invoker, monkeypatch, capfd):
    """requirements.txt is pip-installed once per content (progress on stderr) and importable; no re-install after."""
    monkeypatch.setenv("PYLAMBDA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheelhouse))
    (code / "requirements.txt").write_text("tinydep==1.0\n")
    fn = Function("with-reqs", "app.handler", code=str(code), dependencies="isolated")
    lambda_invoker.register(fn)
    assert lambda_invoker.invoke(fn, {"imports": ["tinydep"]}).payload["tinydep"] == "tinydep 1.0"
    assert "installing" in capfd.readouterr().err
    again = Function("with-reqs-2", "app.handler", code=str(code), dependencies="isolated")
    lambda_invoker.register(again)
    assert lambda_invoker.invoke(again, {"imports": ["tinydep"]}).payload["tinydep"] == "tinydep 1.0"
    assert "installing" not in capfd.readouterr().err
    (code / "requirements.txt").write_text("tinydep==9.9\n")
    broken = Function("bad-reqs", "app.handler", code=str(code), dependencies="isolated")
    lambda_invoker.register(broken)
    with pytest.raises(InvalidParameterValueError, match=r"installing .*requirements\.txt for bad-reqs failed"):
        lambda_invoker.invoke(broken)


def test_layers_and_sdk_on_another_python_version(tmp_path, code, lambda_invoker):
    """On another interpreter (runtime python3.X), an isolated function keeps its layers and the runtime's boto3."""
    from pylambda._environment.runtimes import python_interpreter

    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    other = next((v for v in ("3.12", "3.11", "3.13", "3.10") if v != here and python_interpreter(v)), None)
    if other is None:
        pytest.skip("no other Python version on this machine")
    layer = _layer(tmp_path, "layer", {"python/shared.py": "WHO = 'layer'"})
    fn = Function("other-python", "app.handler", code=str(code), runtime=f"python{other}", layers=[str(layer)],
                  dependencies="isolated")  # fmt: skip
    lambda_invoker.register(fn)
    out = lambda_invoker.invoke(fn, {"imports": ["shared", "boto3", "pytest"]}).payload
    assert (out["shared"], out["boto3"]) == ("layer", "boto3")
    assert out["pytest"].startswith("missing")
