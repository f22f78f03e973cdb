"""Reading settings, and the settings table in the docs."""

from __future__ import annotations

import pytest

from config import SettingsError, load_settings
from config.settings import settings_spec
from config.table import DOCUMENTS, markdown_table, stale_documents

pytestmark = pytest.mark.db_independent


def test_bad_value_names_the_variable(tmp_path):
    with pytest.raises(SettingsError, match=r"^SYNC_INTERVAL_SECONDS='soon' is not valid"):
        load_settings({"SECRET_KEY": "x", "SYNC_INTERVAL_SECONDS": "soon"}, tmp_path)


def test_secret_values_and_url_passwords_are_masked_in_errors(tmp_path):
    with pytest.raises(SettingsError) as caught:
        load_settings({"SECRET_KEY": "x", "SMTP_URL": "http://user:hunter2@mail.example.jp"}, tmp_path)
    assert "hunter2" not in str(caught.value)
    assert "SMTP_URL" in str(caught.value)


def test_missing_secret_key_outside_debug_is_refused(tmp_path):
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        load_settings({}, tmp_path)


def test_debug_mode_generates_a_secret_key_and_keeps_it_across_restarts(tmp_path):
    first = load_settings({"TSUNAGI_DEBUG": "1"}, tmp_path).secret_key
    assert len(first) >= 40
    assert load_settings({"TSUNAGI_DEBUG": "1"}, tmp_path).secret_key == first


def test_default_database_is_a_sqlite_file_in_the_instance_folder(tmp_path):
    settings = load_settings({"SECRET_KEY": "x"}, tmp_path)
    assert settings.database_url == f"sqlite:///{tmp_path.resolve()}/tsunagi.db"


def test_heroku_style_postgres_url_gets_the_psycopg_driver(tmp_path):
    settings = load_settings({"SECRET_KEY": "x", "DATABASE_URL": "postgres://u:p@db/t"}, tmp_path)
    assert settings.database_url == "postgresql+psycopg://u:p@db/t"


def test_dotenv_file_is_read_and_the_environment_wins(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("SECRET_KEY=from-dotenv\nSYNC_INTERVAL_SECONDS=90\nPORT=6000\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("SYNC_INTERVAL_SECONDS", raising=False)
    monkeypatch.setenv("PORT", "7000")
    settings = load_settings(instance_path=tmp_path / "instance")
    assert (settings.secret_key, settings.sync_interval_seconds, settings.port) == ("from-dotenv", 90, 7000)


def test_every_setting_has_a_variable_default_and_one_line_meaning():
    spec = settings_spec()
    names = [row["env"] for row in spec]
    assert len(names) == len(set(names)), "two settings read the same variable"
    for row in spec:
        assert row["env"].isupper() and row["help"].strip(), row
        assert "\n" not in row["help"], row


def test_table_lists_every_setting_the_issue_names():
    table = markdown_table()
    for env in ("DATABASE_URL", "SECRET_KEY", "PUBLIC_BASE_URL", "SALESFORCE_INSTANCE_URL", "SALESFORCE_ACCESS_TOKEN",
                "SALESFORCE_CLIENT_ID", "SALESFORCE_CLIENT_SECRET", "SALESFORCE_USERNAME", "SALESFORCE_PASSWORD",
                "SALESFORCE_PRIVATE_KEY_FILE", "SALESFORCE_LOGIN_URL", "SALESFORCE_CA_BUNDLE",
                "SALESFORCE_API_VERSION", "SALESFORCE_ORG_ID", "SYNC_OBJECTS", "SMTP_URL", "MAIL_FROM", "PORT"):
        assert f"| `{env}` |" in table


def test_settings_table_in_the_docs_is_current():
    missing = [str(path) for path in DOCUMENTS if not path.is_file()]
    assert not missing, f"missing {missing}"
    stale = [str(path) for path in stale_documents()]
    assert not stale, f"settings changed: run `make docs` to regenerate the table in {stale}"


def test_config_table_command_prints_the_table(runner):
    result = runner.invoke(args=["config", "table"])
    assert result.exit_code == 0
    assert result.output == markdown_table()
