"""Configuration: typed settings read from the environment (see settings.py)."""

from __future__ import annotations

from flask import Flask, current_app

from config.settings import Settings, SettingsError, StartupError, load_settings

__all__ = ["Settings", "SettingsError", "StartupError", "init_app", "load_settings", "settings_of"]


def settings_of(app: Flask | None = None) -> Settings:
    """The typed settings of `app` (default: the current app), as `create_app` stored them."""
    settings: Settings = (app or current_app).config["TSUNAGI"]
    return settings


def init_app(app: Flask) -> None:
    """Add the `config` CLI group (`table`, `check`) and the `tsunagi_development` template flag."""
    from config.cli import config_cli
    from config.production import is_development

    app.cli.add_command(config_cli)
    # Templates hide development tools (the dev inbox link) in production.
    app.jinja_env.globals["tsunagi_development"] = is_development(app)
