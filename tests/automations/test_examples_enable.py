"""Shipped examples, as an admin installs them on a real org: they load disabled (only the demo
enables them), and enabling one that would mail people now says how many before it does."""

from __future__ import annotations

from datetime import timedelta

import db as dbmod
from tests.automations.helpers import TOKYO, upsert


def _enabled(app) -> dict[str, bool]:
    from automations.models import Automation

    with dbmod.get_db(app).transaction() as session:
        return {a.key: a.enabled for a in session.query(Automation)}


def _members_of_a_campaign_ending_in_three_days(app) -> None:
    from mail.compliance import record_consent

    end = (dbmod.utcnow().astimezone(TOKYO) + timedelta(days=3)).date().isoformat()
    campaign = upsert(app, "Campaign", Name="冬の感謝祭", EndDate=end, IsActive=True)
    for n, consented in enumerate((True, True, False)):
        contact = upsert(app, "Contact", LastName=f"会員{n}", Email=f"m{n}@example.jp", HasOptedOutOfEmail=False)
        upsert(app, "CampaignMember", CampaignId=campaign, ContactId=contact, Status="Sent")
        if consented:
            with dbmod.get_db(app).transaction() as session:
                record_consent(session, address=f"m{n}@example.jp", granted=True, source="import")


def test_examples_load_disabled_and_enabling_the_countdown_says_how_many_it_mails(app, runner, sign_in):
    loaded = runner.invoke(args=["automations", "load-examples"])
    assert loaded.exit_code == 0, loaded.output
    assert "disabled" in loaded.output
    assert _enabled(app) and not any(_enabled(app).values())
    _members_of_a_campaign_ending_in_three_days(app)

    admin = sign_in("admin")
    detail = admin.get("/admin/automations/campaign-countdown-3").get_data(as_text=True)
    # Two of the three members: the one without consent would not be mailed, so is not counted.
    assert "有効にすると、今日から 7 日以内に 2 人にメールを送ります" in detail
    # 有効にする on the list: not enabled yet, sent to the page that says how many.
    from_list = admin.post("/admin/automations/campaign-countdown-3/enable", follow_redirects=True)
    assert "2 人にメールを送ります。確認してから有効にしてください。" in from_list.get_data(as_text=True)
    assert _enabled(app)["campaign-countdown-3"] is False
    confirmed = admin.post("/admin/automations/campaign-countdown-3/enable", data={"confirm": "2"},
                           follow_redirects=True).get_data(as_text=True)
    assert "有効にしました。今日から 7 日以内に 2 人にメールを送ります。" in confirmed
    assert _enabled(app)["campaign-countdown-3"] is True

    # Loading the examples again keeps the admin's choice; the demo's --enable turns them all on.
    assert runner.invoke(args=["automations", "load-examples"]).exit_code == 0
    assert _enabled(app)["campaign-countdown-3"] is True and _enabled(app)["absent-follow-up"] is False
    assert runner.invoke(args=["automations", "load-examples", "--enable"]).exit_code == 0
    assert all(_enabled(app).values())
