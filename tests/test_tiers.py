"""The test tiers: tests/conftest.py marks unmarked tests ``unit`` and refuses unit tests that scan the
demo library or load Whisper; pyproject.toml registers the three markers. Checked on a throwaway test
tree run by pytester with this repository's conftest and markers."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

pytest_plugins = ("pytester",)

ROOT = Path(__file__).resolve().parents[1]
BARE = ("-p", "no:hypothesispytest", "-p", "no:anyio", "-p", "no:cacheprovider")
"""Plugins the inner runs do not need (re-imported on every in-process run, they cost seconds)."""


@pytest.fixture
def tiered(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester directory with this repository's tests/conftest.py and registered markers."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    markers = "\n".join(f"    {m}" for m in config["markers"])
    pytester.makeini(f"[pytest]\naddopts = --strict-markers\nmarkers =\n{markers}\n")
    pytester.makeconftest((ROOT / "tests" / "conftest.py").read_text())
    return pytester


def test_three_tiers_are_registered() -> None:
    """pyproject.toml registers unit, integration and slow, each with a description."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    names = {m.split(":")[0].strip(): m.split(":", 1)[1].strip() for m in config["markers"]}
    assert set(names) == {"unit", "integration", "slow"} and all(names.values())
    assert "--strict-markers" in config["addopts"]


def test_unmarked_tests_are_unit_and_each_tier_selects_its_own(tiered: pytest.Pytester) -> None:
    """-m unit runs the unmarked test only; -m integration and -m slow run only theirs."""
    tiered.makepyfile(
        test_mix="""
        import pytest

        def test_plain(): pass

        @pytest.mark.integration
        def test_server(): pass

        @pytest.mark.slow
        def test_weights(): pass
        """
    )
    for tier, selected in (("unit", "test_plain"), ("integration", "test_server"), ("slow", "test_weights")):
        result = tiered.runpytest(*BARE, "-m", tier, "-v")
        result.assert_outcomes(passed=1, deselected=2)
        result.stdout.fnmatch_lines([f"*::{selected} PASSED*"])


@pytest.mark.parametrize("fixture", ["demo_home", "demo_catalog"])
def test_a_unit_test_using_the_demo_library_is_a_usage_error(tiered: pytest.Pytester, fixture: str) -> None:
    """An unmarked test asking for the scanned demo library (even through another fixture) stops the run
    at collection, naming the test; marked integration, the same test is accepted."""
    tiered.makepyfile(
        test_heavy=f"""
        import pytest

        @pytest.fixture
        def engines({fixture}):
            return {fixture}

        def test_uses_it(engines): pass

        @pytest.mark.integration
        def test_marked(engines): pass
        """
    )
    result = tiered.runpytest(*BARE, "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*test_heavy.py::test_uses_it uses *{fixture}*"])
    assert "test_marked" not in result.stderr.str()
