"""Tables of the automations package."""
