"""Admin pages of automations (filled in below)."""
