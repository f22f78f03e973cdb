"""Tables of the salesforce package."""
