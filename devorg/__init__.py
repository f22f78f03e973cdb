"""devorg: a local Salesforce-compatible org over HTTPS for the demo, the tests and fault injection.

The org itself lives in `devorg.org.DevOrg` (started by `flask --app app devorg serve` or the
`devorg` pytest fixture); this module only wires the CLI and the admin page into tsunagi.
"""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the `devorg` CLI group and the admin pages (admin-only, under /devorg)."""
    from devorg.cli import devorg_cli

    app.cli.add_command(devorg_cli)
