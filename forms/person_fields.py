"""A Lead form's fields said for a Contact, and back: the same customer is either kind.

A caller who is already a member (a Contact) must be found and updated by the operator's Lead
form (お試しセット申込) instead of becoming a second record as a new Lead. The two objects name
their address differently (Lead `State`, Contact `MailingState`) and each has fields the other
lacks (a Lead's `Company`, `Rating`, `Status`), so a submission for the other kind is translated
before it is written: address fields renamed, Lead-only or Contact-only fields dropped.
"""

from __future__ import annotations

from typing import Any

_ADDRESS = ("PostalCode", "State", "City", "Street", "Country")
# Lead fields with no Contact counterpart (and the reverse), left out of a cross-kind update.
_ONLY_ON = {
    "Lead": {"Company", "Status", "Rating", "LeadSource", "Industry", "NumberOfEmployees", "AnnualRevenue",
             "Website", "IsConverted"},
    "Contact": {"AccountId", "ReportsToId", "Birthdate", "Department", "AssistantName", "AssistantPhone"},
}


def field_name(name: str, source: str, target: str) -> str | None:
    """`name` of a `source` object's field as the `target` object calls it, or None when it has none."""
    if source == target:
        return name
    if name in _ONLY_ON.get(source, set()):
        return None
    if source == "Lead" and target == "Contact" and name in _ADDRESS:
        return f"Mailing{name}"
    if source == "Contact" and target == "Lead" and name.startswith("Mailing") and name[7:] in _ADDRESS:
        return name[7:]
    return name


def translate(fields: dict[str, Any], source: str, target: str, known: dict[str, Any] | None = None) -> dict[str, Any]:
    """`fields` written by a `source` form, renamed for a `target` record.

    `known`: the target's cached describe; when present, fields it does not have are dropped too.
    """
    out: dict[str, Any] = {}
    for name, value in fields.items():
        renamed = field_name(name, source, target)
        if renamed is None or (known and renamed not in known):
            continue
        out[renamed] = value
    return out
