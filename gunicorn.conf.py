"""Gunicorn settings for the `web` process (read automatically from the working directory).

The master checks the settings and the database before forking any worker, so a bad
configuration stops `gunicorn "app:create_app()"` with one line (`tsunagi: …`, exit status 2)
instead of every worker failing to boot with a traceback. Flags in the Procfile win over these.
"""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '5000')}"
# Japanese operators on phones hold connections open; threads keep slow clients from starving.
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# gunicorn 23+ opens a per-user control socket (~/.gunicorn/gunicorn.ctl) that a second gunicorn
# of the same user (tests, a second checkout) would fight over; nothing of ours uses it.
control_socket_disable = True


def on_starting(server):
    """Refuse to start on a bad configuration, before any worker forks."""
    from config.preflight import check_process_or_exit

    check_process_or_exit()
