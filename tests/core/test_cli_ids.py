"""The CLI takes a record's id as the API does: 1 to 2**31 - 1 (:data:`~fangkong.core.bounds.
MAX_ID`, PostgreSQL's ``integer``), checked by one shared check
(:func:`fangkong.core.commands.check_id`) before any database is read; a value past it is a
clear refusal naming the argument and the range, in the user's language (``LANG``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fangkong.cli import app
from fangkong.core.bounds import MAX_ID

COMMANDS = [
    (["planning", "adopt"], "analysis_id"),
    (["planning", "export"], "run_id"),
]


@pytest.mark.parametrize(("command", "name"), COMMANDS)
@pytest.mark.parametrize("value", [0, MAX_ID + 1, 2**63 - 1])
def test_an_id_out_of_range_is_refused_in_english(
    tmp_path: Path, command: list[str], name: str, value: int
) -> None:
    result = CliRunner().invoke(
        app, [*command, str(value), "--data-dir", str(tmp_path)], env={"LANG": "en_US.UTF-8"}
    )
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())  # as the terminal wrapped it
    assert f"{name} must be a whole number from 1 to {MAX_ID}, not {value}" in said


@pytest.mark.parametrize(("command", "name"), COMMANDS)
def test_an_id_out_of_range_is_refused_in_chinese(
    tmp_path: Path, command: list[str], name: str
) -> None:
    result = CliRunner().invoke(
        app, [*command, str(MAX_ID + 1), "--data-dir", str(tmp_path)], env={"LANG": "zh_CN.UTF-8"}
    )
    assert result.exit_code == 2, result.output
    assert f"{name} 须为 1 至 {MAX_ID} 之间的整数" in result.output


@pytest.mark.parametrize(("command", "name"), COMMANDS)
def test_the_largest_id_is_looked_up(tmp_path: Path, command: list[str], name: str) -> None:
    result = CliRunner().invoke(
        app, [*command, str(MAX_ID), "--data-dir", str(tmp_path)], env={"LANG": "en_US.UTF-8"}
    )
    assert result.exit_code == 2, result.output
    assert "does not exist" in result.output or "not found" in result.output.lower()
