"""`flask users create EMAIL --role ROLE`."""

from __future__ import annotations

import click
from flask.cli import AppGroup

import db
from people.models import ROLES
from people.service import UserError, create_user

users_cli = AppGroup("users", help="People who sign in.")


@users_cli.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--name", default="")
@click.password_option(help="At least 10 characters; asked for when not given.")
def create_command(email: str, role: str, name: str, password: str) -> None:
    """Create a person who can sign in with EMAIL and the given role."""
    try:
        with db.transaction() as session:
            user = create_user(session, email, role, password, name)
            click.echo(f"created {user.email} ({user.role})")
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
