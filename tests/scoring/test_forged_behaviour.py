"""Attacks on the score: behaviour earns points only when it is proven (issue 13, item 5).

The hand-off a score triggers (a mail to the rep, a Task in Salesforce) must not be reachable by a
stranger: typing someone's phone into a public form does not make the typist's browser theirs,
reloading an open pixel is one open, and a flood of page views is capped per visitor.
"""

from __future__ import annotations

import time

from sqlalchemy import select

import db as dbmod
from mail import tokens
from mail.models import OutboxMail
from mail.templates import save_template
from scoring import jobs, service
from scoring.models import PersonScore, ScoreThresholdCrossed, TrackingVisitor
from tests.forms.conftest import load_examples
from tests.forms.helpers import token_of
from tests.scoring.people import add_records, lead_id, user_id

VICTIM, OWNER = lead_id(501), user_id(501)
ATTACKER_VID = "a77ac4e5a77ac4e5a77ac4e5a77ac4e5"
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120 Safari/537.36"


def seed_victim(app) -> None:
    """A Lead with a phone number and an owner, the shipped default scoring model (hot lead at 100)."""
    load_examples(app)
    with dbmod.get_db(app).transaction() as session:
        save_template(session, key="scoring-hot-lead", name="hot", subject="ホットリード {{ person.LastName }}",
                      html="<p>{{ person.LastName }}</p>")
        add_records(session, "User", {"Id": OWNER, "LastName": "営業", "Email": "rep@coop.example.jp"})
        add_records(session, "Lead", {"Id": VICTIM, "LastName": "被害", "FirstName": "花子", "Company": "個人",
                                      "Phone": "03-1111-2222", "Email": "hanako@example.jp", "OwnerId": OWNER})


def score(app) -> None:
    """Run the scoring work source (with the app's settings) until it has nothing left."""
    with app.app_context():
        while jobs.score_activity_source("test"):
            pass


def victim_state(app) -> tuple[int, list, bool]:
    """(victim's behaviour points, their hand-offs, whether the attacker's browser is linked to them)."""
    with dbmod.get_db(app).transaction() as session:
        row = session.get(PersonScore, VICTIM)
        crossings = list(session.scalars(select(ScoreThresholdCrossed.threshold)
                                         .where(ScoreThresholdCrossed.person_id == VICTIM)))
        linked = session.scalar(select(TrackingVisitor.person_id)
                                .where(TrackingVisitor.visitor_id == ATTACKER_VID)) == VICTIM
        return (row.behaviour if row else 0), crossings, linked


def hit_pricing_page(client, times: int) -> None:
    for n in range(times):
        response = client.get("/t/p.gif", headers={"User-Agent": BROWSER},
                              query_string={"v": ATTACKER_VID, "u": f"https://coop.example.jp/pricing?n={n}"})
        assert response.status_code == 200


def test_a_public_form_with_a_victim_s_phone_does_not_give_the_attacker_s_browsing_to_the_victim(app, client):
    seed_victim(app)
    # The attacker opens the materials form as if tagged by the snippet, and types the victim's phone.
    page = client.get("/f/materials_request", query_string={"tvid": f"{ATTACKER_VID}.{int(time.time())}"})
    fields = {"LastName": "攻撃", "FirstName": "者", "LastNameKana__c": "こうげき", "FirstNameKana__c": "しゃ",
              "Phone": "03-1111-2222", "Email": "attacker@evil.example", "PostalCode": "100-0001",
              "State": "東京都", "City": "千代田区", "Street": "千代田1-1",
              "tsunagi_vid": ATTACKER_VID, "_privacy": "1", "_token": token_of(page.get_data(as_text=True))}
    assert client.post("/f/materials_request", data={**fields, "_stage": "submit"}).status_code == 303
    hit_pricing_page(client, 20)  # 20 × 5 points: the +100 of the report
    score(app)
    behaviour, crossings, linked = victim_state(app)
    assert not linked
    assert behaviour < 100 and crossings == []  # at most the form's own points, no hand-off to the rep
    with dbmod.get_db(app).transaction() as session:
        assert session.scalars(select(OutboxMail).where(OutboxMail.template_key == "scoring-hot-lead")).all() == []


def test_a_flood_of_page_views_from_a_linked_browser_is_capped_per_window(app):
    seed_victim(app)  # default cap: SCORING_PAGE_VIEWS_PER_WINDOW=10 per hour
    with dbmod.get_db(app).transaction() as session:
        from scoring import tracking

        tracking.link_visitor(session, ATTACKER_VID, VICTIM, linked_by="mail")
    hit_pricing_page(app.test_client(), 20)  # 20 × 5 would be the +100 hand-off
    score(app)
    behaviour, crossings, _linked = victim_state(app)
    assert behaviour == 10 * 5 and crossings == []
    hit_pricing_page(app.test_client(), 5)  # later in the same window: still nothing more
    score(app)
    assert victim_state(app)[0] == 10 * 5


def test_the_page_view_cap_is_a_setting(make_app):
    app = make_app(scoring_page_views_per_window=3)
    seed_victim(app)
    with dbmod.get_db(app).transaction() as session:
        from scoring import tracking

        tracking.link_visitor(session, ATTACKER_VID, VICTIM, linked_by="mail")
    hit_pricing_page(app.test_client(), 5)
    score(app)
    assert victim_state(app)[0] == 3 * 5


def test_three_fetches_of_one_open_pixel_count_as_one_open(app, client):
    seed_victim(app)
    with dbmod.get_db(app).transaction() as session:
        mail = OutboxMail(send_key="news:1", to_address="hanako@example.jp", to_domain="example.jp",
                          template_key="news", person_id=VICTIM, message_id="<news-1@example.jp>")
        session.add(mail)
        session.flush()
        mail_id = mail.id
    pixel = f"/m/o/{tokens.make(app.config['TSUNAGI'].secret_key, 'open', mail_id)}.gif"
    assert client.get(pixel).status_code == 200
    score(app)  # the first open is scored on its own …
    for _ in range(2):
        assert client.get(pixel).status_code == 200  # … and the replays in a later batch
    score(app)
    with dbmod.get_db(app).transaction() as session:
        assert session.get(PersonScore, VICTIM).behaviour == 10  # one open (+10), not three (+30)
        assert [h.reason for h in service.score_history(session, VICTIM)] == ["メール開封 +10"]
