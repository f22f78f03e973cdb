"""Tables of the mail package."""
