"""Template service: validation on save, fallbacks, sandbox, generated text part."""

import pytest

from mail.templates import TemplateInvalid, compiled_for, render, save_template


def _save(db_session, **fields):
    values = {"key": "welcome", "name": "ようこそ", "subject": "{{ person.LastName }} 様へのご案内",
              "html": "<p>{{ person.LastName | default('お客') }} 様</p>", "text": None}
    values.update(fields)
    row = save_template(db_session, **values)
    db_session.commit()
    return row


def test_saved_template_renders_merge_fields_with_fallback_for_empty_values(db_session):
    row = _save(db_session)
    mail = render(compiled_for(row), {"person": {"LastName": None}})
    assert "お客 様" in mail.html
    mail = render(compiled_for(row), {"person": {"LastName": "山田"}})
    assert mail.subject == "山田 様へのご案内"
    assert "山田 様" in mail.text


def test_contact_alias_names_the_person(db_session):
    row = _save(db_session, html="<p>{{ contact.LastName }} 様</p>")
    assert "佐藤 様" in render(compiled_for(row), {"person": {"LastName": "佐藤"}}).html


def test_html_is_autoescaped_and_css_inlined(db_session):
    row = _save(db_session, html="<style>p { color: red }</style><p>{{ person.LastName }}</p>")
    html = render(compiled_for(row), {"person": {"LastName": "<b>x</b>"}}).html
    assert "&lt;b&gt;x&lt;/b&gt;" in html
    assert 'style="color: red' in html


def test_text_part_is_generated_from_html_with_links(db_session):
    row = _save(db_session, html='<h1>お知らせ</h1><p>詳しくは<a href="https://example.jp/a">こちら</a></p>')
    text = render(compiled_for(row), {"person": {"LastName": "森"}}).text
    assert "お知らせ" in text
    assert "こちら ( https://example.jp/a )" in text


@pytest.mark.parametrize(("fields", "expected"), [
    ({"subject": "{{ person.LastName "}, "書式の誤り"),
    ({"html": "<p>{{ person.NoSuchField__x }}</p>"}, "person.NoSuchField__x"),
    ({"html": "<p>{{ customer.Name }}</p>"}, "customer"),
    ({"html": "{{ person.__class__.__mro__ }}"}, "person.__class__"),
    ({"html": "{{ ''.__class__ }}"}, "使用できない操作"),
    ({"html": "{{ record.__class__ }}"}, "使用できない操作"),
    ({"html": "{{ form.owner }}"}, "form.owner"),
    ({"key": "Bad Key!"}, "キー"),
])
def test_invalid_templates_are_refused_with_a_clear_message(db_session, fields, expected):
    with pytest.raises(TemplateInvalid) as refused:
        _save(db_session, **fields)
    assert any(expected in error for error in refused.value.errors), refused.value.errors


def test_templates_may_use_what_automations_forms_and_scoring_pass(db_session):
    row = _save(db_session, subject="{{ form.title }}: {{ record.Subject }}",
                html="<p>{{ campaign.Name }} / {{ automation.name }} / {{ submission.id }} / {{ scoring.score }}</p>")
    mail = render(compiled_for(row), {"form": {"title": "資料請求"}, "record": {"Subject": "訪問"},
                                      "campaign": {"Name": "冬の感謝祭"}, "automation": {"name": "不在フォロー"},
                                      "submission": {"id": 7}, "scoring": {"score": 120}})
    assert mail.subject == "資料請求: 訪問"
    assert "冬の感謝祭 / 不在フォロー / 7 / 120" in mail.html


def test_saving_again_replaces_the_template_and_bumps_the_version(db_session):
    first = _save(db_session)
    second = _save(db_session, subject="新しい件名")
    assert second.id == first.id and second.version == 2
    assert render(compiled_for(second), {"person": {"LastName": "森"}}).subject == "新しい件名"
