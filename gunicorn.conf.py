"""Gunicorn reads this file from the working directory; the settings live in ops/gunicorn_conf.py
(so the installed wheel carries them: `gunicorn -c python:ops.gunicorn_conf "app:create_app()"`)."""

from ops.gunicorn_conf import *  # noqa: F403
