"""The public 資料請求 form as a visitor fills it in on a phone: a required privacy-policy consent
(linked to PRIVACY_POLICY_URL, kept with the submission) and opt-in boxes on their labels' line."""

from __future__ import annotations

import pytest

from tests.forms.conftest import load_examples
from tests.forms.helpers import submissions, token_of

POLICY = "https://coop.example.jp/privacy"
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
REQUEST = {"LastName": "田中", "FirstName": "美咲", "LastNameKana__c": "タナカ", "FirstNameKana__c": "ミサキ",
           "Email": "misaki@example.jp", "PostalCode": "100-0001", "State": "東京都", "City": "千代田区",
           "Street": "千代田", "HouseNumber": "1-1"}


@pytest.fixture
def public_app(make_app):
    app = make_app(privacy_policy_url=POLICY)
    load_examples(app)
    return app


def _on_one_line(page, box_selector, label_selector):
    box, label = page.locator(box_selector).bounding_box(), page.locator(label_selector).bounding_box()
    middle = box["y"] + box["height"] / 2
    # The box is left of its words and level with their first line (not on a line of its own).
    return box["x"] + box["width"] <= label["x"] and label["y"] <= middle <= label["y"] + min(label["height"], 40)


def test_the_form_is_refused_without_privacy_consent_and_kept_with_it_when_given(public_app, live_server, browser):
    server = live_server(public_app)
    page = browser.new_page(**PHONE)
    page.goto(server.url + "/f/materials_request")
    page.wait_for_load_state("load")
    for name, value in REQUEST.items():
        page.fill(f"#f-{name}", value)
    page.check("#f-MailOptIn")
    assert _on_one_line(page, "#f-MailOptIn", "label[for=f-MailOptIn]")
    assert _on_one_line(page, "#f-_privacy", "label[for=f-_privacy]")
    assert page.get_by_role("link", name="プライバシーポリシー").get_attribute("href") == POLICY
    for name, value in REQUEST.items():  # the postal-code lookup may have rewritten the address
        page.fill(f"#f-{name}", value)

    page.get_by_role("button", name="確認画面へ").click()
    error = page.locator("#f-_privacy-error")
    error.wait_for()
    assert "プライバシーポリシーへの同意が必要です" in error.inner_text()
    assert submissions(public_app) == []

    page.get_by_label("プライバシーポリシーに同意する").check()
    page.get_by_role("button", name="確認画面へ").click()
    page.get_by_role("heading", name="入力内容の確認").wait_for()
    page.get_by_role("button", name="この内容で送信").click()
    page.get_by_text("資料請求を受け付けました").wait_for()
    [sub] = submissions(public_app)
    assert sub.privacy_consent["text"] == "プライバシーポリシーに同意する"
    assert sub.privacy_consent["url"] == POLICY and sub.privacy_consent["at"]


def test_a_post_without_the_privacy_box_is_refused_with_a_japanese_error_and_nothing_kept(public_app):
    client = public_app.test_client()
    for stage in ("confirm", "submit"):
        token = token_of(client.get("/f/materials_request").get_data(as_text=True))
        response = client.post("/f/materials_request", data={**REQUEST, "_token": token, "_stage": stage})
        assert response.status_code == 400
        assert "プライバシーポリシーへの同意が必要です" in response.get_data(as_text=True)
    assert submissions(public_app) == []
    token = token_of(client.get("/f/materials_request").get_data(as_text=True))
    response = client.post("/f/materials_request",
                           data={**REQUEST, "_token": token, "_stage": "submit", "_privacy": "1"})
    assert response.status_code == 303 and len(submissions(public_app)) == 1
