"""Forms in a real Chromium against a real app server and the dev org."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.browser import page_until
from tests.forms.helpers import all_status, signed_in_page, time_passes, work_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


def _signed_in_page(app, browser, server, role, **page_options):
    return signed_in_page(app, browser, server, role, email=f"{role}-browser@example.jp", **page_options)


@pytest.fixture
def org_server(make_app, devorg, live_server):
    app = org_app_with_csrf(make_app, devorg)
    return app, live_server(app)


def org_app_with_csrf(make_app, devorg):
    """The org-connected app with CSRF checks on, as in production."""
    from tests.forms.conftest import load_examples
    from tests.forms.helpers import GATEWAY_OPTIONS

    app = make_app(config={"SALESFORCE_GATEWAY_OPTIONS": GATEWAY_OPTIONS, "WTF_CSRF_ENABLED": True},
                   **devorg.app_settings())
    load_examples(app)
    return app


def test_operator_finds_a_member_by_phone_prefills_edits_confirms_and_it_lands_in_the_org(
        org_server, browser, devorg, seed_mirror_on):
    app, server = org_server
    member_id = devorg.insert("Lead", LastName="山田", FirstName="花子", LastNameKana__c="ヤマダ",
                              FirstNameKana__c="ハナコ", Phone="090-1111-2222", Company="個人",
                              PostalCode="100-0001", State="東京都", City="千代田区", Street="千代田1-1")
    seed_mirror_on(app, "Lead", devorg.get("Lead", member_id))
    page = _signed_in_page(app, browser, server, "operator")
    page.goto(server.url + "/forms/trial_set")
    # Keyboard only: the lookup box has focus; type part of the number, Enter picks the first hit.
    page.keyboard.type("0901111")
    page.wait_for_selector("#lookup-results [role=option][aria-selected=true]")
    assert "山田 花子" in page.locator("#lookup-results").inner_text()
    page.keyboard.press("Enter")
    page.wait_for_url("**/forms/trial_set?person=*")
    assert page.input_value("#f-LastName") == "山田"
    assert page.input_value("#f-Phone") == "090-1111-2222"
    page.fill("#f-Email", "hanako.yamada@example.jp")
    if not DOCS_IMG.joinpath("forms-operator.png").exists():
        page.screenshot(path=str(DOCS_IMG / "forms-operator.png"), full_page=True)
    page.click("button[value=confirm]")
    page.wait_for_selector("table.confirm")
    assert page.locator("[data-confirm=Email]").inner_text() == "hanako.yamada@example.jp"
    page.keyboard.press("Tab")  # from the heading to この内容で送信
    page.keyboard.press("Enter")
    page.wait_for_selector("text=受け付けました")
    work_until(app, all_status(app, "written"))
    (lead,) = devorg.records("Lead")
    assert lead["Id"] == member_id and lead["Email"] == "hanako.yamada@example.jp"
    assert [t["WhoId"] for t in devorg.records("Task")] == [member_id]


def test_a_new_applicant_typed_in_full_width_with_a_postal_code_that_fills_the_address(org_server, browser, devorg):
    app, server = org_server
    page = _signed_in_page(app, browser, server, "operator")
    page.goto(server.url + "/forms/trial_set")
    page.fill("#f-LastName", "佐藤")
    page.fill("#f-FirstName", "次郎")
    page.fill("#f-LastNameKana__c", "さとう")
    page.fill("#f-FirstNameKana__c", "じろう")
    page.fill("#f-Phone", "０８０−９８７６−５４３２")
    page.locator("#f-PostalCode").press_sequentially("１５００００２")
    page_until(page, "document.querySelector('#f-City').value !== ''")
    assert page.input_value("#f-State") == "東京都"
    assert page.input_value("#f-City") == "渋谷区"
    assert page.input_value("#f-PostalCode") == "150-0002"
    page.fill("#f-Street", page.input_value("#f-Street") + "２−２１−１")
    page.click("button[value=confirm]")
    page.wait_for_selector("table.confirm")
    assert page.locator("[data-confirm=Phone]").inner_text() == "080-9876-5432"
    assert page.locator("[data-confirm=LastNameKana__c]").inner_text() == "サトウ"
    page.click("button[value=submit]")
    page.wait_for_selector("text=受け付けました")
    page.wait_for_load_state("load")  # its keyboard shortcuts are attached
    page.keyboard.press("Alt+n")  # the next blank form
    page.wait_for_url(server.url + "/forms/trial_set")
    assert page.input_value("#f-LastName") == ""
    work_until(app, all_status(app, "written"))
    (lead,) = devorg.records("Lead")
    assert (lead["Phone"], lead["PostalCode"], lead["City"]) == ("080-9876-5432", "150-0002", "渋谷区")
    assert lead["Street"].endswith("2-21-1")


def test_an_operator_who_types_on_before_the_address_arrives_keeps_what_they_typed(org_server, browser):
    """A fast operator types the postal code and goes straight on to the street and house number;
    the address answer arriving after that must not overwrite their typing (CI once lost 1-2 so)."""
    app, server = org_server
    page = _signed_in_page(app, browser, server, "operator")
    held = []
    page.route("**/forms/api/postal/*", lambda route: held.append(route))  # late: held until released
    page.goto(server.url + "/forms/trial_set")
    page_until(page, "document.activeElement && document.activeElement.id === 'lookup'")
    page.fill("#f-PostalCode", "160-0002")
    page.fill("#f-Street", "四谷坂町1-2")

    def requests_held(count):  # Playwright hands routed requests to the test while it waits
        for _ in range(300):
            if len(held) >= count:
                break
            page.wait_for_timeout(50)
        assert len(held) == count

    requests_held(1)
    with page.expect_response("**/forms/api/postal/*"):
        held[0].continue_()
    page_until(page, "document.querySelector('#f-State').value !== ''")
    assert page.input_value("#f-State") == "東京都"  # the parts left empty are still filled
    assert page.input_value("#f-City") == "新宿区"
    assert page.input_value("#f-Street") == "四谷坂町1-2"

    # A late answer for a postal code the operator has since corrected fills nothing.
    page.fill("#f-State", "")
    page.fill("#f-City", "")
    page.fill("#f-PostalCode", "150-0002")
    page.fill("#f-PostalCode", "100-0001")
    requests_held(3)
    with page.expect_response("**/forms/api/postal/1000001"):
        held[2].continue_()
    page_until(page, "document.querySelector('#f-City').value !== ''")
    assert page.input_value("#f-City") == "千代田区"
    with page.expect_response("**/forms/api/postal/1500002"):
        held[1].continue_()  # the answer for 150-0002 arrives last
    page.wait_for_timeout(500)  # nothing to wait for when nothing must happen
    assert page.input_value("#f-City") == "千代田区"
    assert page.input_value("#f-PostalCode") == "100-0001"


def test_a_field_rep_flags_absent_on_a_phone(org_server, browser, devorg, seed_mirror_on):
    app, server = org_server
    contact_id = devorg.insert("Contact", LastName="伊藤", FirstName="誠", LastNameKana__c="イトウ",
                               FirstNameKana__c="マコト", Phone="045-123-4567", MailingState="神奈川県",
                               MailingCity="横浜市")
    seed_mirror_on(app, "Contact", devorg.get("Contact", contact_id))
    page = _signed_in_page(app, browser, server, "sales",
                           viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page.goto(server.url + "/forms/visit")
    page.fill("#lookup", "いとう")
    page.locator("#lookup-results a").first.tap()  # tap 1
    page.wait_for_selector("button:has-text('不在')")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    if not DOCS_IMG.joinpath("forms-sales-visit.png").exists():
        page.screenshot(path=str(DOCS_IMG / "forms-sales-visit.png"))
    page.locator("button:has-text('不在')").tap()  # tap 2
    page.wait_for_selector("text=記録しました")
    time_passes(app)  # the undo window (FORMS_VISIT_UNDO_SECONDS) is over
    work_until(app, all_status(app, "written"))
    (task,) = devorg.records("Task")
    assert (task["WhoId"], task["Visit_Result__c"]) == (contact_id, "不在")


def test_a_field_rep_taps_the_phone_line_of_a_result_row_and_it_opens(org_server, browser, devorg, seed_mirror_on):
    # A result row is one big touch target: its second line (phone · email) opens the person too.
    app, server = org_server
    contact_id = devorg.insert("Contact", LastName="伊藤", FirstName="誠", LastNameKana__c="イトウ",
                               FirstNameKana__c="マコト", Phone="045-123-4567")
    seed_mirror_on(app, "Contact", devorg.get("Contact", contact_id))
    page = _signed_in_page(app, browser, server, "sales",
                           viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page.goto(server.url + "/forms/visit")
    page.fill("#lookup", "いとう")
    page.locator("#lookup-results small").first.tap()
    page.wait_for_selector("button:has-text('不在')", timeout=5000)
    assert page.url.endswith("/forms/visit/" + contact_id)


def test_a_public_form_shows_a_bad_email_inline_and_keeps_what_was_typed(org_server, browser):
    _app, server = org_server
    page = browser.new_page()
    page.goto(server.url + "/f/materials_request")
    page.fill("#f-LastName", "田中")
    page.fill("#f-FirstName", "美咲")
    page.fill("#f-LastNameKana__c", "タナカ")
    page.fill("#f-FirstNameKana__c", "ミサキ")
    page.fill("#f-Email", "misaki@example")
    page.fill("#f-PostalCode", "1000001")
    page_until(page, "document.querySelector('#f-City').value !== ''")
    page.click("button[value=confirm]")
    error = page.locator("#f-Email-error")
    assert "メールアドレスの形式が正しくありません" in error.inner_text()
    assert page.locator("#f-Email").get_attribute("aria-invalid") == "true"
    assert page.input_value("#f-Email") == "misaki@example"
    assert page.input_value("#f-LastName") == "田中"
    assert page.input_value("#f-City") == "千代田区"
