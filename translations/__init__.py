"""The UI's message catalogs (messages.pot, en/LC_MESSAGES). A package only so the wheel carries them."""
