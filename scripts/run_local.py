"""`make run`: tsunagi on this machine with embedded defaults, demo people and demo data.

Two steps:

1. `setup()` — idempotent: settings for local use (TSUNAGI_DEBUG=1, SQLite in instance/), the
   schema migrated, the dev org seeded on first use, demo people created if missing, and the
   shipped example forms/automations loaded.
2. `serve()` — honcho runs Procfile.dev (web, dev org, dev inbox, clock, worker) until Ctrl-C;
   the dev org is left out when a real org is configured, the dev inbox when SMTP_URL is set.

`python -m scripts.run_local --setup-only` runs step 1 only (tests use it).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config import settings_of

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
DEMO_PEOPLE = (
    # (email, role, password, name) — for this machine only; `setup` refuses outside debug mode.
    ("admin@example.jp", "admin", "tsunagi-admin-demo", "管理 太郎"),
    ("operator@example.jp", "operator", "tsunagi-operator-demo", "受付 花子"),
    ("sales@example.jp", "sales", "tsunagi-sales-demo", "営業 次郎"),
    ("marketer@example.jp", "marketer", "tsunagi-marketer-demo", "広報 三郎"),
)
LOCAL_DEFAULTS = {
    "TSUNAGI_DEBUG": "1", "PORT": "5000", "DEVORG_PORT": "5443",
    # The sender details 特定電子メール法 requires in every marketing mail, for the demo co-op.
    "MAIL_SENDER_NAME": "つなぎ生活協同組合（デモ）",
    # Mails come from the co-op, not from no-reply@localhost.
    "MAIL_FROM": "つなぎ生活協同組合（デモ） <info@tsunagi-coop.example>",
    "MAIL_SENDER_ADDRESS": "〒100-0001 東京都千代田区千代田1-1（デモ）",
    "MAIL_CONTACT": "0120-000-000（デモ・平日9〜18時）",
}
# The demo enables the shipped automations; anywhere else they load disabled.
EXAMPLE_COMMANDS = (("forms", "load-examples"), ("automations", "load-examples", "--enable"))


@dataclass
class SetupResult:
    """What `setup` did, for the banner and for tests."""

    url: str
    database_url: str
    created: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def local_environ(base: dict[str, str] | None = None, instance_path: Path | None = None) -> dict[str, str]:
    """The environment of every local process: the caller's, plus embedded defaults."""
    if base is None:
        # The same precedence as the settings: the environment wins over .env.
        from dotenv import dotenv_values

        dotenv = {k: v for k, v in dotenv_values(ROOT / ".env").items() if v is not None}
        base = {**dotenv, **os.environ}
    env = dict(base)
    for key, value in LOCAL_DEFAULTS.items():
        env.setdefault(key, value)
    if env.get("TSUNAGI_LAN", "").lower() in ("1", "true", "yes", "on"):
        # `make run TSUNAGI_LAN=1`: serve the LAN so a phone on the same Wi-Fi can follow the tour,
        # and put this machine's LAN address in mail links (a phone cannot open "localhost").
        env.setdefault("BIND_HOST", "0.0.0.0")  # noqa: S104  (asked for: the LAN, for a phone)
        env.setdefault("PUBLIC_BASE_URL", f"http://{lan_address()}:{env['PORT']}")
    env.setdefault("BIND_HOST", "127.0.0.1")
    env.setdefault("PUBLIC_BASE_URL", f"http://localhost:{env['PORT']}")
    if instance_path is not None:
        # Tools started as subprocesses must use the same instance folder as this process.
        env.setdefault("DATABASE_URL", f"sqlite:///{instance_path.resolve() / 'tsunagi.db'}")
        env.setdefault("DEVORG_DIR", str(instance_path.resolve() / "devorg"))
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def lan_address() -> str:
    """This machine's address on its local network (the interface of the default route).

    Connecting a UDP socket sends nothing; it only asks the kernel which source address it
    would use. Without a network, the loopback address.
    """
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1 (RFC 5737): never routed anywhere real
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def _flask(env: dict[str, str], *args: str) -> None:
    subprocess.run([str(VENV_BIN / "flask"), "--app", "app", *args], cwd=ROOT, env=env, check=True)


def setup(env: dict[str, str], instance_path: Path, demo_data: bool = True) -> SetupResult:
    """Migrate, seed the dev org once, create the demo people, load examples. Safe to repeat."""
    from sqlalchemy import select

    import db
    from app import create_app
    from config.preflight import check
    from migrations import upgrade
    from people.models import User
    from people.service import create_user

    app = create_app({"instance_path": str(instance_path), "environ": env})
    settings = settings_of(app)
    if not settings.debug:
        raise SystemExit("tsunagi: make run is for this machine only (TSUNAGI_DEBUG must be on)")
    check(settings)
    upgrade(settings.database_url)
    result = SetupResult(url=settings.public_base_url, database_url=settings.database_url)
    with db.get_db(app).transaction() as session:
        for email, role, password, name in DEMO_PEOPLE:
            if session.scalar(select(User.id).where(User.email == email)) is None:
                create_user(session, email, role, password, name)
                result.created.append(email)
    if demo_data:
        _demo_data(app, env, Path(settings.devorg_dir), result)
    db.get_db(app).dispose()
    return result


def _demo_data(app: Any, env: dict[str, str], devorg_dir: Path, result: SetupResult) -> None:
    stamp = devorg_dir / ".seeded-by-make-run"
    if settings_use_devorg(app) and not stamp.exists():
        _flask(env, "devorg", "seed")
        devorg_dir.mkdir(parents=True, exist_ok=True)
        stamp.touch()
    for group, command, *options in EXAMPLE_COMMANDS:
        _flask(env, group, command, *options)


def settings_use_devorg(app: Any) -> bool:
    """True when no real org is configured, so the local dev org stands in for Salesforce."""
    return not settings_of(app).salesforce_configured


def runnable_procfile(app: Any, procfile: Path) -> tuple[str, list[str]]:
    """Procfile.dev without the processes this configuration does not need (and why)."""
    kept, skipped = [], []
    for line in procfile.read_text().splitlines():
        name, _, _command = line.partition(":")
        if name.strip() == "devorg" and not settings_use_devorg(app):
            skipped.append("devorg (a real Salesforce org is configured)")
            continue
        if name.strip() == "inbox" and settings_of(app).smtp_url:
            skipped.append("inbox (SMTP_URL is set)")
            continue
        kept.append(line)
    if any(line.startswith("devorg:") for line in kept):
        # Background processes call the org at once: let them start when it answers.
        wait = "python -m scripts.wait_for_port 127.0.0.1 ${DEVORG_PORT} 60 && "
        kept = [re.sub(r"^((?:clock|worker):\s*)", lambda m: m.group(1) + wait, line) for line in kept]
    return "\n".join(kept) + "\n", skipped


def banner(result: SetupResult, skipped: list[str]) -> str:
    """What `make run` prints before the process logs scroll by."""
    lines = ["", "=" * 64, f"  tsunagi is starting at {result.url}", "", "  Demo sign-ins:"]
    lines += [f"    {role:<9} {email:<22} {password}" for email, role, password, _ in DEMO_PEOPLE]
    lines += ["", f"  Database: {result.database_url}", "  Status:   " + result.url + "/admin/status (admins)"]
    lines += [f"  Note: {note}" for note in [*result.notes, *(f"not started: {s}" for s in skipped)]]
    lines += ["  Stop with Ctrl-C.", "=" * 64, ""]
    return "\n".join(lines)


def serve(env: dict[str, str], instance_path: Path, result: SetupResult) -> int:
    """Run Procfile.dev under honcho until interrupted; returns honcho's exit status."""
    from app import create_app

    app = create_app({"instance_path": str(instance_path), "environ": env})
    procfile, skipped = runnable_procfile(app, ROOT / "Procfile.dev")
    text = banner(result, skipped)
    banner_file = instance_path / "banner.txt"
    banner_file.write_text(text)
    # Print the banner again once the processes' start-up logs have scrolled past it.
    procfile += f"hello: sleep 6 && cat {shlex.quote(str(banner_file))} && exec sleep 2147483647\n"
    generated = instance_path / "Procfile.run"
    generated.write_text(procfile)
    print(text, flush=True)
    honcho = [str(VENV_BIN / "honcho"), "start", "-f", str(generated), "-d", str(ROOT), "-p", env["PORT"]]
    try:
        return subprocess.call(honcho, cwd=ROOT, env=env)
    except KeyboardInterrupt:
        return 0


def main(argv: list[str] | None = None) -> int:
    """Set up, then serve (or only set up with --setup-only)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setup-only", action="store_true", help="prepare everything, start nothing")
    parser.add_argument("--instance", type=Path, default=ROOT / "instance", help="instance folder")
    parser.add_argument("--no-demo-data", action="store_true", help="skip the dev org seed and the examples")
    args = parser.parse_args(argv)
    from config import StartupError
    from config.files import private_dir

    private_dir(args.instance)  # the database, the secret key and the dev org live here: owner only
    env = local_environ(instance_path=args.instance)
    try:
        result = setup(env, args.instance, demo_data=not args.no_demo_data)
    except StartupError as exc:
        print(f"tsunagi: {exc.format_message()}", file=sys.stderr)
        return 2
    if args.setup_only:
        print(banner(result, []))
        return 0
    return serve(env, args.instance, result)


if __name__ == "__main__":
    sys.exit(main())
