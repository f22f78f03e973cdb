"""Test configuration: fixtures live in tests/fixtures and load as plugins."""

pytest_plugins = [
    "tests.fixtures.database",
    "tests.fixtures.app",
    "tests.fixtures.devorg",
    "tests.fixtures.smtp",
    "tests.fixtures.browser",
    "tests.fixtures.orgs",
]
