"""``$SUBLEDGER_HOME/settings.env``: per-home defaults under the environment."""

from __future__ import annotations

from datetime import date

import pytest

from ledger_pipelines.config import ConfigError, load_settings, read_home_settings, write_home_setting


def test_a_home_setting_applies_when_the_environment_does_not_set_it(tmp_path):
    write_home_setting(tmp_path, "SUBLEDGER_START_DATE", "2025-11-01")
    assert read_home_settings(tmp_path) == {"SUBLEDGER_START_DATE": "2025-11-01"}
    assert load_settings({"SUBLEDGER_HOME": str(tmp_path)}).start_date == date(2025, 11, 1)
    # the environment wins
    overridden = load_settings({"SUBLEDGER_HOME": str(tmp_path), "SUBLEDGER_START_DATE": "2024-02-03"})
    assert overridden.start_date == date(2024, 2, 3)
    # another home is not affected
    assert load_settings({"SUBLEDGER_HOME": str(tmp_path / "other")}).start_date == date(2020, 1, 1)


def test_writing_again_replaces_the_value_and_keeps_the_others(tmp_path):
    write_home_setting(tmp_path, "SUBLEDGER_TIMEZONE", "Europe/Berlin")
    write_home_setting(tmp_path, "SUBLEDGER_START_DATE", "2025-11-01")
    write_home_setting(tmp_path, "SUBLEDGER_START_DATE", "2025-12-01")
    assert read_home_settings(tmp_path) == {"SUBLEDGER_TIMEZONE": "Europe/Berlin", "SUBLEDGER_START_DATE": "2025-12-01"}
    assert load_settings({"SUBLEDGER_HOME": str(tmp_path)}).timezone == "Europe/Berlin"


@pytest.mark.parametrize("line", ["JUNK", "SUBLEDGER_HOME=/elsewhere", "PATH=/bin"])
def test_a_bad_line_is_a_config_error_naming_the_file_and_line(tmp_path, line):
    (tmp_path / "settings.env").write_text(f"# comment\n{line}\n")
    with pytest.raises(ConfigError, match=r"settings.env:2"):
        load_settings({"SUBLEDGER_HOME": str(tmp_path)})


def test_a_bad_value_in_the_file_is_reported_like_the_variable(tmp_path):
    write_home_setting(tmp_path, "SUBLEDGER_START_DATE", "yesterday")
    with pytest.raises(ConfigError, match="SUBLEDGER_START_DATE='yesterday'"):
        load_settings({"SUBLEDGER_HOME": str(tmp_path)})
