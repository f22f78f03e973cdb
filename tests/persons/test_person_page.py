"""The person page and the sent-mail log, as an admin (or a salesperson) uses them."""

from __future__ import annotations

from datetime import timedelta

import lxml.html

import db
from db import utcnow
from scoring.models import ScoreHistory
from tests.persons.seed import mail, seed_person
from tests.scoring.people import contact_id


def _page(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)
    return lxml.html.fromstring(response.get_data(as_text=True))


def _rows(doc, table):
    return [" ".join(" ".join(td.text_content().split()) for td in tr.findall("td"))
            for tr in doc.xpath(f"//table[contains(@class, '{table}')]/tbody/tr")]


def test_admin_opens_a_person_and_sees_everything_that_happened_newest_first(app, sign_in):
    with db.get_db(app).transaction() as session:
        hanako = seed_person(session)
    admin = sign_in("admin")
    doc = _page(admin, f"/people/{hanako}")
    card = " ".join(doc.xpath("//dl[@class='person-card']")[0].text_content().split())
    assert doc.xpath("//h1")[0].text_content().startswith("山田 花子")
    for shown in ("リード", "hanako@example.jp", "03-1234-5678", "〒100-0001 東京都千代田区千代田1-1", "63",
                  "比較検討"):
        assert shown in card
    assert _rows(doc, "person-automations")[0].startswith("ようこそシリーズ 進行中 ")
    rows = _rows(doc, "timeline")
    kinds = [r.split(" ", 2)[2].split(" ")[0] for r in rows]  # after the date and time
    # Newest first: withdrawn consent (1 min), score (5 min), form (7 min), page view (14 min), click,
    # open, the skipped mail (40 min), the sent mail (50 min), the automation entry (55 min), consent
    # given (3 days); the visit (Task) last, at the seed's SystemModstamp (2026-11-20).
    assert kinds[:10] == ["同意撤回", "スコア変更", "フォーム送信", "ページ閲覧", "メール内リンクのクリック",
                          "メール開封", "メール", "メール", "オートメーション開始", "同意"]
    assert "10 → 63 フォーム送信 +50, 開封 +3" in rows[1]
    assert rows[0].endswith("hanako@example.jp 配信停止ページ") and rows[9].endswith("フォーム「shiryo」")
    assert "ページ閲覧 料金https://coop.example.jp/pricing" in rows[3]  # title, then the URL below it
    assert "件名2" in rows[6] and "送信せず" in rows[6] and "オプトイン同意なし" in rows[6]
    assert "件名1" in rows[7] and "送信済み · 開封 · クリック" in rows[7]
    assert any("ToDo・訪問 訪問" in r and "不在" in r for r in rows)
    # Another person's mail is not on her page; no raw codes leak.
    text = doc.text_content()
    assert "件名3" not in text and "mail_open" not in text and "granted" not in text


def test_timeline_pages_with_before_without_losing_rows_that_share_a_time(app, sign_in):
    with db.get_db(app).transaction() as session:
        hanako = seed_person(session)
        same = utcnow() - timedelta(hours=2)
        for n in range(70):  # more than a page, all at one instant
            session.add(ScoreHistory(person_id=hanako, score_before=n, score_after=n + 1, reason=f"r{n}",
                                     changed_at=same))
    sales = sign_in("sales")
    doc = _page(sales, f"/people/{hanako}")
    seen = [tr.get("data-key") for tr in doc.xpath("//table[@class='timeline']/tbody/tr")]
    assert len(seen) == 50
    more = doc.xpath("//a[@rel='next']")[0].get("href")
    doc = _page(sales, more)
    seen += [tr.get("data-key") for tr in doc.xpath("//table[@class='timeline']/tbody/tr")]
    assert not doc.xpath("//a[@rel='next']")
    assert len(seen) == len(set(seen)) == 11 + 70  # the seed's 11 rows and the 70 score changes


def test_person_page_refuses_operators_unknown_ids_and_forged_cursors(app, sign_in):
    with db.get_db(app).transaction() as session:
        hanako = seed_person(session)
    assert sign_in("operator").get(f"/people/{hanako}").status_code == 403
    admin = sign_in("admin")
    assert admin.get("/people/00Q000000000000999").status_code == 404
    assert admin.get("/people/x';--").status_code == 404
    assert admin.get(f"/people/{hanako}?before=yesterday").status_code == 400


def test_admin_searches_the_sent_mail_log_and_opens_the_person(app, sign_in):
    with db.get_db(app).transaction() as session:
        hanako = seed_person(session)
        mail(session, 9, None, "stranger@example.jp", "bounced", minutes_ago=10)
    admin = sign_in("admin")
    doc = _page(admin, "/admin/mail/log")
    rows = _rows(doc, "mail-log")
    assert len(rows) == 4
    assert "stranger@example.jp" in rows[0] and "バウンス" in rows[0]
    # By address: her two mails, named, each linking to her page.
    doc = _page(admin, "/admin/mail/log?address=hanako@example.jp")
    rows = _rows(doc, "mail-log")
    assert len(rows) == 2
    assert "山田 花子" in rows[0] and "送信せず" in rows[0] and "オプトイン同意なし" in rows[0]
    assert "山田 花子" in rows[1] and "あり あり" in rows[1] and "welcome" in rows[1]
    assert {a.get("href") for a in doc.xpath("//table[@class='mail-log']//a[@class='person']")} == {f"/people/{hanako}"}
    # By person and by automation.
    assert len(_rows(_page(admin, f"/admin/mail/log?person={contact_id(2)}"), "mail-log")) == 1
    rows = _rows(_page(admin, "/admin/mail/log?automation=welcome"), "mail-log")
    assert len(rows) == 1 and "件名1" in rows[0]
    assert len(_rows(_page(admin, "/admin/mail/log?automation=wel%"), "mail-log")) == 0
    doc = _page(admin, "/admin/mail/log?person=nonsense!")
    assert "15 桁または 18 桁" in doc.text_content()
    assert sign_in("sales").get("/admin/mail/log").status_code == 403


def test_mail_log_pages_by_id(app, sign_in):
    with db.get_db(app).transaction() as session:
        for n in range(60):
            mail(session, 100 + n, None, f"m{n}@example.jp")
    admin = sign_in("admin")
    doc = _page(admin, "/admin/mail/log")
    first = [tr.get("data-mail") for tr in doc.xpath("//table[@class='mail-log']/tbody/tr")]
    doc = _page(admin, doc.xpath("//a[@rel='next']")[0].get("href"))
    second = [tr.get("data-mail") for tr in doc.xpath("//table[@class='mail-log']/tbody/tr")]
    assert len(first) == 50 and len(second) == 10 and not set(first) & set(second)


def test_scoring_top_list_and_automation_history_name_people_and_link_their_page(app, sign_in):
    from sqlalchemy import select

    from automations.models import Automation, AutomationRun

    with db.get_db(app).transaction() as session:
        hanako = seed_person(session)
        welcome = session.scalar(select(Automation).where(Automation.key == "welcome"))
        session.add(AutomationRun(automation_id=welcome.id, person_id=hanako, record_id=hanako, outcome="sent",
                                  reason=""))
    admin = sign_in("admin")
    for url in ("/admin/scoring", "/admin/automations/welcome", f"/admin/automations/people/{hanako}"):
        doc = _page(admin, url)
        links = doc.xpath("//a[@class='person']")
        assert [(a.text_content(), a.get("href")) for a in links] == [("山田 花子", f"/people/{hanako}")], url


def test_dry_run_links_each_person_to_their_page(app, sign_in):
    from tests.automations.test_admin import _absent_task

    contact, _ = _absent_task(app)
    doc = _page(sign_in("admin"), "/admin/automations/absent/dry-run")
    links = doc.xpath("//a[@class='person']")
    assert [(a.text_content(), a.get("href")) for a in links] == [("山田", f"/people/{contact}")]
