"""Web tracking: the pixel stores page views, honours Do Not Track, drops bots, links visitors."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from activity.models import Activity
from db import get_db
from scoring import service, tracking
from scoring.models import PersonScore, TrackingVisitor
from tests.scoring.people import MODEL, lead_id

BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
VID = "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"


@pytest.fixture
def tx(app):
    return get_db(app).transaction


def hit(client, headers=None, **params):
    query = {"v": VID, "u": "https://coop.example.jp/pricing?x=1", "t": "料金 | 生協", "r": "https://www.google.com/"}
    query.update(params)
    query = {k: v for k, v in query.items() if v is not None}
    response = client.get("/t/p.gif", query_string=query, headers={"User-Agent": BROWSER, **(headers or {})})
    assert response.status_code == 200
    assert response.mimetype == "image/gif"
    assert "no-store" in response.headers["Cache-Control"]
    return response


def page_views(tx):
    with tx() as s:
        return [(a.visitor_id, a.person_id, a.details) for a in
                s.scalars(select(Activity).where(Activity.kind == "page_view").order_by(Activity.id))]


def test_pixel_stores_url_title_and_referrer_of_a_page_view(client, tx):
    hit(client)
    assert page_views(tx) == [(VID, None, {"url": "https://coop.example.jp/pricing?x=1", "title": "料金 | 生協",
                                           "referrer": "https://www.google.com/"})]


def test_the_pixel_answers_a_gif_a_browser_will_not_sniff_and_a_head_request_stores_too(client, tx):
    response = hit(client)
    assert response.data.startswith(b"GIF89a") and response.headers["X-Content-Type-Options"] == "nosniff"
    head = client.head("/t/p.gif", query_string={"v": VID, "u": "https://coop.example.jp/"},
                       headers={"User-Agent": BROWSER})
    assert head.status_code == 200 and head.data == b""
    assert [details["url"] for _vid, _person, details in page_views(tx)] == [
        "https://coop.example.jp/pricing?x=1", "https://coop.example.jp/"]


@pytest.mark.parametrize("agent", ["Googlebot/2.1 (+http://www.google.com/bot.html)", "curl/8.5.0",
                                   "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/120.0", ""])
def test_bot_user_agents_are_not_recorded(client, tx, agent):
    hit(client, headers={"User-Agent": agent})
    assert page_views(tx) == []


def test_hits_without_a_visitor_id_or_with_a_non_web_url_are_dropped(client, tx):
    hit(client, v=None)
    hit(client, v="short")
    hit(client, v="a" * 64 + "\n")  # one character too long, hidden behind a newline
    hit(client, u="javascript:alert(1)")
    assert page_views(tx) == []


def test_do_not_track_is_honoured_when_the_setting_is_on(client, tx):
    hit(client, headers={"DNT": "1"})
    hit(client, headers={"Sec-GPC": "1"})
    assert page_views(tx) == []


def test_do_not_track_is_ignored_when_the_setting_is_off(make_app):
    app = make_app(tracking_honour_dnt=False)
    hit(app.test_client(), headers={"DNT": "1"})
    assert len(page_views(get_db(app).transaction)) == 1


def test_clicking_a_tracked_mail_link_links_the_visitor_and_scores_earlier_visits(app, client, tx):
    person = lead_id(5)
    with tx() as s:
        service.import_model(s, MODEL)
    hit(client, u="https://coop.example.jp/about")          # anonymous: 1 point once known
    with tx() as s:
        service.score_new_activity(s)
        assert s.get(PersonScore, person) is None
    token = tracking.person_token(app.config["SECRET_KEY"], person)
    hit(client, p=token)                                     # arrives from the mail: pricing, 5 points
    with tx() as s:
        while service.score_new_activity(s):
            pass
    with tx() as s:
        assert s.get(TrackingVisitor, VID).person_id == person
        assert s.get(PersonScore, person).score == 6
    assert [p for _v, p, _d in page_views(tx)] == [person, person]


def test_a_forged_person_token_links_nobody(client, tx, app):
    token = tracking.person_token("another-secret", lead_id(6))
    hit(client, p=token)
    with tx() as s:
        assert s.scalars(select(TrackingVisitor)).all() == []
    assert len(page_views(tx)) == 1


def test_link_visitor_rejects_malformed_visitor_ids(tx):
    with tx() as s:
        assert tracking.link_visitor(s, "bad id!", lead_id(7)) is False
        assert tracking.link_visitor(s, VID, lead_id(7), "form") is True


def test_snippet_is_served_as_javascript_bound_to_the_public_url(client):
    response = client.get("/t/t.js")
    assert response.status_code == 200
    assert response.mimetype == "application/javascript"
    body = response.get_data(as_text=True)
    assert '"http://localhost"' in body and "tsunagi_vid" in body and "doNotTrack" in body
