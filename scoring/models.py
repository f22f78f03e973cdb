"""Tables of the scoring package."""
