"""The torch-free registry (saliency.catalog): names are unique, plugins declare methods, and the
API's imports stay free of torch."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from saliency.catalog.methods import METHODS, MethodInfo, declare, method_info
from saliency.errors import DuplicateName, UnknownMethod

ROOT = Path(__file__).resolve().parents[2]


def test_a_method_declared_twice_is_an_error() -> None:
    with pytest.raises(DuplicateName, match="'oise' is declared twice"):
        declare(MethodInfo("oise", BaseModel, "black-box", "again", "x:y"))
    assert METHODS["oise"].function == "saliency.methods.oise:oise"


def test_unknown_methods_list_the_known_ones() -> None:
    with pytest.raises(UnknownMethod, match="known: .*oise.*rise") as err:
        method_info("magic")
    assert err.value.field == "method" and err.value.code == "unknown_method"


def test_a_model_named_like_a_builtin_is_refused(tiny_toml: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from saliency.models import get_spec, list_models

    monkeypatch.setenv("SALIENCY_MODELS_FILE", str(tiny_toml))
    monkeypatch.setenv("SALIENCY_MODELS__resnet18__path", "tiny.pt2")
    for field, value in (("labels", "tiny_labels.txt"), ("input_size", "[32, 32]"), ("mean", "[0.5, 0.5, 0.5]"),
                         ("std", "[0.25, 0.25, 0.25]")):
        monkeypatch.setenv(f"SALIENCY_MODELS__resnet18__{field}", value)
    for call in (list_models, lambda: get_spec("tiny")):
        with pytest.raises(DuplicateName, match="'resnet18' .* also a builtin model"):
            call()


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True)


def test_plugins_declare_methods_without_torch() -> None:
    """What the API does: load the registry and the test plugin, and never import torch."""
    code = ("import sys; from saliency.catalog.methods import method_info, methods_for; "
            "import saliency.errors, saliency.images, saliency.catalog.metrics, saliency.catalog.targets; "
            "print(method_info('gate').needs, 'gate' in methods_for(False), 'torch' in sys.modules)")
    done = _python(code, SALIENCY_PLUGINS="tests.support.methods")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["black-box", "True", "False"]


def test_plugins_named_after_the_first_use_of_the_registry_are_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    """An app created after $SALIENCY_PLUGINS changed (a test's own API, with a test method)
    accepts its methods, though the registry was used before in the same process; the README's
    generated tables list the builtin methods only."""
    from saliency.catalog.methods import registry
    from saliency_cli.docs import blocks

    monkeypatch.delenv("SALIENCY_PLUGINS", raising=False)
    registry()  # used first without plugins
    monkeypatch.setenv("SALIENCY_PLUGINS", "tests.support.methods")
    assert method_info("gate").function.startswith("tests.support.methods")
    assert "options-gate" not in blocks() and "`gate`" not in blocks()["methods"]


def test_the_package_names_its_functions_even_after_their_modules_are_imported() -> None:
    """`from saliency import explain` is the function whatever was imported before: a submodule
    named like it would shadow the lazy name once imported (the CLI imports it)."""
    import importlib

    import saliency

    importlib.import_module("saliency.explanation")
    from saliency import explain

    assert callable(explain) and not isinstance(explain, type(saliency))
