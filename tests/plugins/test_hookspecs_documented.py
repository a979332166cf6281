"""The plugin system stays honest: every hook is documented with its exact signature, and tested."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from pilkada_graph import hookspecs

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "plugins.md"
TESTS = Path(__file__).parent


def hook_names() -> list[str]:
    return sorted(name for name, value in vars(hookspecs).items()
                  if name.startswith("pilkada_") and callable(value))


def signature_of(hook: Callable[..., object]) -> str:
    """``name(arg: Type, ...) -> Return``, as the annotations are written in hookspecs.py."""
    parameters = ", ".join(f"{p.name}: {p.annotation}" for p in inspect.signature(hook).parameters.values())
    return f"{hook.__name__}({parameters}) -> {inspect.signature(hook).return_annotation}"


def test_hookspecs_declare_hooks() -> None:
    assert {"pilkada_detectors", "pilkada_check_tally", "pilkada_check_region"} <= set(hook_names())


@pytest.mark.parametrize("name", hook_names())
def test_every_hook_is_documented_with_its_exact_signature(name: str) -> None:
    expected = signature_of(getattr(hookspecs, name))
    documented = re.sub(r"\s+", " ", DOCS.read_text(encoding="utf-8")).replace("( ", "(").replace(", )", ")")
    assert expected in documented, f"docs/plugins.md lacks the signature `{expected}`"


@pytest.mark.parametrize("name", hook_names())
def test_every_hook_has_a_test(name: str) -> None:
    tests = "".join(path.read_text(encoding="utf-8") for path in TESTS.glob("test_*.py"))
    assert f"def test_hook_{name}(" in tests, f"no test_hook_{name} in tests/plugins"
