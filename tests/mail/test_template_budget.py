"""Attacks through a mail template (issue 13, item 7): errors are shown as errors, renders have a budget."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

import db
from mail.models import MailTemplate
from mail.render_budget import MAX_CHARS, RenderBudgetExceeded
from mail.templates import compile_template, render

HUGE = {
    "repeat": "<p>{{ 'a' * 100000000 }}</p>",
    "repeat twice": "<p>{{ 'a' * 999999 * 999 }}</p>",
    "join": "<p>{{ range(99999) | map('string') | join('a' * 99999) }}</p>",
    "padding method": "<p>{{ 'x'.ljust(999999999) }}</p>",
    "padding filter": "<p>{{ 'x' | center(999999999) }}</p>",
    "printf width": "<p>{{ '%999999999s' % 'a' }}</p>",
    "format width": "<p>{{ '{:>999999999}'.format('a') }}</p>",
    "output in a loop": "{% for i in range(99999) %}{{ 'abcdefghijklmnopqrstuvwxyz' }}{% endfor %}",
}


def save(admin, html: str, action: str = "save"):
    return admin.post("/admin/mail/templates/new", data={"key": "probe", "name": "試験", "subject": "件名",
                                                         "html": html, "text": "", "action": action})


@pytest.mark.parametrize("action", ["save", "preview"])
def test_an_unknown_filter_is_shown_as_an_error_not_a_server_error(mail_app, sign_in, action):
    admin = sign_in("admin", client=mail_app.test_client())
    response = save(admin, "<p>{{ '' | format_map }}</p>", action)
    assert response.status_code == 400
    assert "format_map" in response.get_data(as_text=True) and "書式の誤り" in response.get_data(as_text=True)


@pytest.mark.parametrize("case", HUGE)
def test_a_template_that_would_build_a_huge_mail_is_refused_at_save(mail_app, sign_in, case):
    admin = sign_in("admin", client=mail_app.test_client())
    started = time.monotonic()
    response = save(admin, HUGE[case])
    assert response.status_code == 400
    assert "大きすぎるか" in response.get_data(as_text=True)
    assert time.monotonic() - started < 10  # refused, not computed
    with db.get_db(mail_app).sessionmaker() as session:
        assert session.scalars(select(MailTemplate)).all() == []


def test_a_template_that_loops_without_end_is_refused_at_save(mail_app, sign_in):
    admin = sign_in("admin", client=mail_app.test_client())
    response = save(admin, "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}")
    assert response.status_code == 400 and "時間がかかりすぎます" in response.get_data(as_text=True)


def test_a_stored_template_that_outgrows_the_budget_at_render_fails_that_mail_only():
    """A template already in the database (saved before the budget existed) is stopped per mail."""
    template = compile_template("old", 1, "件名", "<p>{{ data.word * data.times }}</p>", None)
    with pytest.raises(RenderBudgetExceeded):
        render(template, {"data": {"word": "a", "times": 100_000_000}})
    ok = render(template, {"data": {"word": "あ", "times": 3}})
    assert ok.html == "<p>あああ</p>" and len(ok.html) < MAX_CHARS


def test_ordinary_templates_still_render(mail_app, sign_in):
    admin = sign_in("admin", client=mail_app.test_client())
    html = ("<p>{{ person.LastName | default('お客') }} 様</p><p>{{ '{:,}'.format(1234567) }}円 "
            "{{ '%05d' % 42 }} {{ ['a', 'b'] | join(', ') }} {{ 'x' | center(9) }}</p>")
    assert save(admin, html).status_code == 302
