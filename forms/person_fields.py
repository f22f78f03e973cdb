"""A Lead form's fields said for a Contact or a Person Account, and back: the same customer is any kind.

A caller who is already a member (a Contact) must be found and updated by the operator's Lead
form (お試しセット申込) instead of becoming a second record as a new Lead. The two objects name
their address differently (Lead `State`, Contact `MailingState`) and each has fields the other
lacks (a Lead's `Company`, `Rating`, `Status`), so a submission for the other kind is translated
before it is written: address fields renamed, Lead-only or Contact-only fields dropped.
"""

from __future__ import annotations

from typing import Any

from sync import read

_ADDRESS = ("PostalCode", "State", "City", "Street", "Country")
# Lead fields with no Contact counterpart (and the reverse), left out of a cross-kind update.
_ONLY_ON = {
    "Lead": {"Company", "Status", "Rating", "LeadSource", "Industry", "NumberOfEmployees", "AnnualRevenue",
             "Website", "IsConverted"},
    "Contact": {"AccountId", "ReportsToId", "Birthdate", "Department", "AssistantName", "AssistantPhone"},
}


# A Contact's person fields as a Person Account names them (Salesforce's Person prefix).
_PERSON_PREFIXED = ("Email", "MobilePhone", "HomePhone", "OtherPhone", "Birthdate", "HasOptedOutOfEmail",
                    "DoNotCall", "LeadSource", "Title")


def _by_role(name: str, source: str, target: str) -> str | None:
    """The target's field holding what `name` holds on the source, by the person model's roles
    (furigana and name pairs, email, opt-out), or None when the model says nothing."""
    model = read.person_model()
    src, dst = model.get(source), model.get(target)
    if src is None or dst is None:
        return None
    for pair_src, pair_dst in ((src.kana, dst.kana), (src.last_first, dst.last_first)):
        if name in pair_src and len(pair_dst) == len(pair_src):
            return pair_dst[pair_src.index(name)]
    if src.email and dst.email and name == src.email[0]:
        return dst.email[0]
    if src.opted_out and dst.opted_out and name == src.opted_out:
        return dst.opted_out
    return None


def _to_person_account(name: str, source: str) -> str | None:
    if source == "Lead" and name in _ADDRESS:
        return f"PersonMailing{name}"
    if name.startswith("Mailing") and name[7:] in _ADDRESS:
        return f"Person{name}"
    return f"Person{name}" if name in _PERSON_PREFIXED else name


def _from_person_account(name: str, target: str) -> str:
    if name.startswith("PersonMailing") and name[13:] in _ADDRESS:
        return name[13:] if target == "Lead" else name[6:]
    return name[6:] if name.startswith("Person") and name[6:] in _PERSON_PREFIXED else name


def field_name(name: str, source: str, target: str) -> str | None:
    """`name` of a `source` object's field as the `target` object calls it, or None when it has none."""
    if source == target:
        return name
    if name in _ONLY_ON.get(source, set()):
        return None
    role = _by_role(name, source, target)
    if role is not None:
        return role
    if target == "Account":
        return _to_person_account(name, source)
    if source == "Account":
        return _from_person_account(name, target)
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
