"""Japanese input helpers: NFKC, katakana, phone, postal code, mail, visibility."""

from __future__ import annotations

import pytest

from forms.inputs import address_for_postal, clean_form, format_phone, format_postal, to_katakana
from forms.schema import parse_spec

pytestmark = pytest.mark.db_independent


def _spec(*fields, **extra):
    return parse_spec({"key": "tt", "title": "t", "audience": "operator", "object": "Lead",
                       "sections": [{"title": "s", "fields": list(fields)}], **extra})


@pytest.mark.parametrize(("typed", "stored"), [
    ("０９０−１２３４−５６７８", "090-1234-5678"), ("09012345678", "090-1234-5678"),
    ("+81 90 1234 5678", "090-1234-5678"), ("0312345678", "03-1234-5678"), ("12345", None),
])
def test_phone_numbers_are_checked_for_japan_and_stored_one_way(typed, stored):
    assert format_phone(typed) == stored


def test_furigana_becomes_full_width_katakana():
    assert to_katakana("やまだ") == "ヤマダ"
    assert to_katakana("ﾔﾏﾀﾞ") == "ヤマダ"


def test_postal_codes_accept_full_width_digits_and_give_an_address():
    assert format_postal("１０００００１") == "100-0001"
    assert format_postal("〒100-0001") == "100-0001"
    assert format_postal("12345") is None
    assert address_for_postal("100-0001")["prefecture"] == "東京都"
    assert address_for_postal("0000000") is None


def test_errors_are_per_field_and_in_japanese():
    spec = _spec({"name": "Email", "type": "email", "required": True},
                 {"name": "LastNameKana__c", "type": "kana"},
                 {"name": "Title", "max_length": 3})
    cleaned = clean_form(spec, {"Email": "taro@", "LastNameKana__c": "山田", "Title": "部長代理"})
    assert set(cleaned.errors) == {"Email", "LastNameKana__c", "Title"}
    assert "カタカナ" in cleaned.errors["LastNameKana__c"]
    assert "3 文字以内" in cleaned.errors["Title"]


def test_hidden_values_win_and_fields_hidden_by_a_condition_are_not_checked():
    spec = _spec({"name": "HasQuestion", "type": "checkbox", "write": False},
                 {"name": "Description", "required": True, "visible_if": {"field": "HasQuestion", "equals": "1"}},
                 hidden={"LeadSource": "Web"})
    cleaned = clean_form(spec, {"LeadSource": "Other"})
    assert cleaned.ok and cleaned.values == {"HasQuestion": False, "LeadSource": "Web"}
    assert clean_form(spec, {"HasQuestion": "1"}).errors.keys() == {"Description"}


def test_mail_addresses_are_normalized_and_non_ascii_ones_refused():
    spec = _spec({"name": "Email", "type": "email"})
    assert clean_form(spec, {"Email": "Taro@EXAMPLE.jp"}).values["Email"] == "Taro@example.jp"
    assert "Email" in clean_form(spec, {"Email": "たろう@example.jp"}).errors
