"""Tables of the forms package."""
