"""The validation kit the YAML definition formats share: paths, every problem at once, one error."""

from __future__ import annotations

import re

import pytest

from config.validation import Checker, DocumentError, Problem, at

pytestmark = pytest.mark.db_independent


def test_a_problem_names_its_path_into_the_document():
    check = Checker()
    check.text({"template": ["x"]}, "template", at("actions", 2))
    with pytest.raises(DocumentError) as caught:
        check.raise_if_any()
    assert caught.value.problems == [Problem("actions[2].template", "文字列で指定してください。")]
    assert caught.value.messages == ["actions[2].template: 文字列で指定してください。"]
    assert str(caught.value) == "actions[2].template: 文字列で指定してください。"


def test_every_problem_is_collected_before_the_error_is_raised():
    check = Checker()
    doc = {"type": "colour", "days": -1, "size": True, "tags": "a", "extra": 1, "more": 2}
    assert check.choice(doc, "type", "fields[0]", ("text", "date"), "text") == "text"
    assert check.integer(doc, "days", "wait", minimum=0) == -1
    assert check.number(doc, "size", "", 1.5) == 1.5
    assert check.items(doc, "tags", "") == []
    assert check.text(doc, "title", "", required=True) == ""
    assert check.unknown_keys(doc, ("type", "days", "size", "tags")) == ["extra", "more"]
    with pytest.raises(DocumentError) as caught:
        check.raise_if_any()
    paths = [p.path for p in caught.value.problems]
    assert paths == ["fields[0].type", "wait.days", "size", "tags", "title", ""]
    assert "text / date" in caught.value.messages[0] and "'colour'" in caught.value.messages[0]
    assert caught.value.messages[-1].endswith(": extra, more")


def test_a_clean_document_raises_nothing_and_keeps_its_values():
    check = Checker(trim=True)
    doc = {"key": "  visit ", "count": 3, "ratio": 0.5, "on": True, "hidden": {"A": 1}, "items": [1]}
    assert check.text(doc, "key", "", required=True, pattern=re.compile(r"^[a-z]+$")) == "visit"
    assert check.integer(doc, "count", "", minimum=1, maximum=3) == 3
    assert check.number(doc, "ratio", "", maximum=1) == 0.5
    assert check.flag(doc, "on", "") is True and check.flag(doc, "off", "", False) is False
    assert check.mapping(doc, "hidden", "") == {"A": 1} and check.items(doc, "items", "") == [1]
    check.raise_if_any()


def test_a_bool_is_not_text_nor_a_number():
    check = Checker()
    check.text({"a": True}, "a", "")
    check.integer({"b": False}, "b", "")
    assert [p.path for p in check.problems] == ["a", "b"]


def test_within_leads_every_problem_with_which_document():
    error = DocumentError([Problem("key", "必須です。"), "定義がありません"])
    assert error.within("[2] ").messages == ["[2] key: 必須です。", "[2] 定義がありません"]


def test_paths_join_keys_and_list_positions():
    assert at("", "key") == "key"
    assert at("steps", 1) == "steps[1]"
    assert at(at("steps", 1), "wait") == "steps[1].wait"
