"""Public forms opened from the customer's site (`?tvid=`) link the web visitor to whoever submits."""

from __future__ import annotations

import re
import time
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

import db as dbmod
from activity.models import Activity
from forms.links import signed_form_url
from scoring import tracking
from scoring.models import PersonScore, TrackingVisitor
from scoring.service import import_model, score_new_activity
from tests.forms.helpers import all_status, org_app, submissions, token_of, work_until
from tests.scoring.people import MODEL, add_activity, lead_id

VID = "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"
OTHER_VID = "ffeeddccbbaa99887766554433221100"
REQUEST = {"LastName": "田中", "FirstName": "美咲", "LastNameKana__c": "たなか", "FirstNameKana__c": "みさき",
           "Email": "misaki@example.jp", "PostalCode": "100-0001", "State": "東京都", "City": "千代田区",
           "Street": "千代田1-1", "_privacy": "1"}  # the visitor ticks the privacy-policy box


def linker(visitor_id: str, age_s: float = 0) -> str:
    """A form link's `tvid` as the snippet tags it, `age_s` seconds ago."""
    return f"{visitor_id}.{int(time.time() - age_s)}"


def carried_visitor(html: str) -> str | None:
    """The visitor id a rendered form carries in its hidden `tsunagi_vid` input, if any."""
    found = re.search(r'name="tsunagi_vid" value="([^"]*)"', html)
    return found.group(1) if found else None


def submit(client, path: str, data: dict, headers: dict | None = None, **extra) -> tuple[str, Any]:
    """Open `path` as the customer's site links it, confirm and submit what it carries; (token, response)."""
    page = client.get(path, headers=headers).get_data(as_text=True)
    key = path.split("?")[0]
    carried = {"tsunagi_vid": v} if (v := carried_visitor(page)) is not None else {}
    token = token_of(page)
    confirm = client.post(key, headers=headers, data={**data, **carried, "_token": token, "_stage": "confirm"})
    assert confirm.status_code == 200
    assert carried_visitor(confirm.get_data(as_text=True)) == carried.get("tsunagi_vid")
    response = client.post(key, headers=headers,
                           data={**data, **carried, **extra, "_token": token, "_stage": "submit"})
    return token, response


def book_by_link(app, client, person_id: str) -> tuple[str, dict, str, Any]:
    """Book a revisit from `person_id`'s signed link, tagged with VID: (path, posted data, token, response)."""
    with app.test_request_context():
        path = signed_form_url("revisit_booking", person_id).removeprefix("http://localhost")
    data = {"ActivityDate": str(date.today() + timedelta(days=7)), "t": path.split("t=", 1)[1]}  # days ahead
    token, response = submit(client, f"{path}&tvid={linker(VID)}", data)
    return path, data, token, response


def visitors(app) -> dict[str, tuple[str, str]]:
    """visitor id → (person, linked_by) for every linked visitor."""
    with dbmod.get_db(app).transaction() as session:
        return {v.visitor_id: (v.person_id, v.linked_by) for v in session.scalars(select(TrackingVisitor))}


def activities(app, kind: str) -> list[tuple[str | None, str | None]]:
    """(visitor id, person) of every activity of `kind`, oldest first."""
    with dbmod.get_db(app).transaction() as session:
        return [(a.visitor_id, a.person_id) for a in
                session.scalars(select(Activity).where(Activity.kind == kind).order_by(Activity.id))]


def score_everything(app) -> None:
    """Run the scoring worker until it has nothing left to claim."""
    with dbmod.get_db(app).transaction() as session:
        while score_new_activity(session):
            pass


def browse_anonymously(app, visitor_id: str = VID) -> None:
    """The test scoring model, and a pricing page view (5 points) by a visitor nobody knows yet."""
    with dbmod.get_db(app).transaction() as session:
        import_model(session, MODEL)
        add_activity(session, "page_view", None, visitor_id=visitor_id,
                     url="https://coop.example.jp/pricing", title="料金", referrer="")


def test_a_form_matching_a_known_customer_by_what_was_typed_links_no_browser_to_them(
        examples, client, app, seed_mirror):
    """Anyone can type a customer's email: the match alone never hands the browser's visits to them."""
    seed_mirror("Lead", LastName="田中", Email="misaki@example.jp")
    browse_anonymously(app)
    score_everything(app)  # the page view is set aside: nobody to give it to yet
    _token, response = submit(client, f"/f/materials_request?tvid={linker(VID)}", REQUEST)
    assert response.status_code == 303
    (sub,) = submissions(app)
    assert sub.resolution == "unverified:email"  # a public entry is never matched (issue 13 item 1)
    assert visitors(app) == {}
    score_everything(app)
    assert activities(app, "page_view") == [(VID, None)]


def test_a_known_customer_arriving_by_a_signed_link_takes_their_earlier_browsing_along(
        examples, client, app, seed_mirror):
    member = seed_mirror("Contact", LastName="高橋", Email="ken@example.jp")
    browse_anonymously(app)
    score_everything(app)
    _path, _data, _token, response = book_by_link(app, client, member["Id"])
    assert response.status_code == 303
    assert visitors(app) == {VID: (member["Id"], "form")}
    score_everything(app)
    assert activities(app, "page_view") == [(VID, member["Id"])]
    with dbmod.get_db(app).transaction() as session:
        assert session.get(PersonScore, member["Id"]).behaviour >= 5  # the pricing page is theirs now


def test_a_signed_link_submission_moves_a_visitor_linked_to_someone_else_to_the_linked_person(
        examples, client, app, seed_mirror):
    member = seed_mirror("Contact", LastName="高橋", Email="ken@example.jp")
    with dbmod.get_db(app).transaction() as session:
        tracking.link_visitor(session, VID, lead_id(9), linked_by="mail")  # a shared computer
    _path, _data, _token, response = book_by_link(app, client, member["Id"])
    assert response.status_code == 303
    assert visitors(app) == {VID: (member["Id"], "form")}


def test_a_replayed_submit_links_once_and_never_another_visitor(examples, client, app, seed_mirror):
    member = seed_mirror("Contact", LastName="高橋", Email="ken@example.jp")
    path, data, token, first = book_by_link(app, client, member["Id"])
    again = client.post(path.split("?")[0],
                        data={**data, "tsunagi_vid": OTHER_VID, "_token": token, "_stage": "submit"})
    assert first.status_code == again.status_code == 303
    assert len(submissions(app)) == 1
    assert visitors(app) == {VID: (member["Id"], "form")}
    assert activities(app, "form_submit") == [(VID, member["Id"])]


@pytest.mark.parametrize("tvid", ["", "short", "bad id!" * 4, "a" * 65, "a" * 64 + "\n", "<script>x</script>" * 2])
def test_a_missing_or_malformed_visitor_id_is_ignored_without_a_word(examples, client, app, seed_mirror, tvid):
    seed_mirror("Lead", LastName="田中", Email="misaki@example.jp")
    page = client.get("/f/materials_request", query_string={"tvid": tvid} if tvid else None)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and carried_visitor(html) is None
    assert 'role="alert"' not in html
    # Even posted straight at the form (not as the page carried it) it is dropped, not refused.
    token = token_of(html)
    response = client.post("/f/materials_request",
                           data={**REQUEST, "tsunagi_vid": tvid, "_token": token, "_stage": "submit"})
    assert response.status_code == 303
    assert len(submissions(app)) == 1
    assert visitors(app) == {}
    assert [vid for vid, _person in activities(app, "form_submit")] == [None]


STALE_LINKS = {  # made when the test runs: collected ids must not depend on the clock (xdist)
    "plain id, no time": lambda: VID,
    "tagged an hour ago": lambda: linker(VID, age_s=tracking.LINKER_MAX_AGE_S + 60),
    "tagged in the future": lambda: linker(VID, age_s=-tracking.LINKER_MAX_AGE_S - 60),
    "empty time": lambda: f"{VID}.",
    "time not a number": lambda: f"{VID}.12x",
    "malformed id": lambda: linker("short"),
}


@pytest.mark.parametrize("case", STALE_LINKS)
def test_a_form_link_without_a_fresh_time_carries_no_visitor(examples, client, case):
    """A copied form URL shared later (or a link not tagged by the snippet) hands nobody's visits over."""
    html = client.get("/f/materials_request", query_string={"tvid": STALE_LINKS[case]()}).get_data(as_text=True)
    assert carried_visitor(html) is None and 'role="alert"' not in html


def test_a_freshly_tagged_form_link_carries_the_visitor(examples, client):
    html = client.get("/f/materials_request", query_string={"tvid": linker(VID, age_s=30)}).get_data(as_text=True)
    assert carried_visitor(html) == VID


def test_a_filled_honeypot_links_nothing(examples, client, app, seed_mirror):
    seed_mirror("Lead", LastName="田中", Email="misaki@example.jp")
    _token, response = submit(client, f"/f/materials_request?tvid={linker(VID)}", REQUEST, website="http://spam.example")
    assert response.status_code == 303
    assert submissions(app) == [] and visitors(app) == {} and activities(app, "form_submit") == []


def test_a_browser_asking_not_to_be_tracked_is_not_linked(examples, client, app, seed_mirror):
    seed_mirror("Lead", LastName="田中", Email="misaki@example.jp")
    _token, response = submit(client, f"/f/materials_request?tvid={linker(VID)}", REQUEST, headers={"Sec-GPC": "1"})
    assert response.status_code == 303
    assert len(submissions(app)) == 1 and visitors(app) == {}


@pytest.mark.slow
def test_a_new_applicant_s_visitor_is_linked_once_the_write_back_creates_their_lead(make_app, devorg):
    app = org_app(make_app, devorg)
    client = app.test_client()
    browse_anonymously(app)
    _token, response = submit(client, f"/f/materials_request?tvid={linker(VID)}", REQUEST)
    assert response.status_code == 303
    score_everything(app)
    assert visitors(app) == {}  # nobody to link to until Salesforce has the Lead
    assert activities(app, "page_view") == [(VID, None)]
    work_until(app, all_status(app, "written"))
    (lead,) = devorg.records("Lead")
    assert visitors(app) == {VID: (lead["Id"], "form")}
    score_everything(app)
    assert activities(app, "page_view") == [(VID, lead["Id"])]
    assert activities(app, "form_submit") == [(VID, lead["Id"])]
    with dbmod.get_db(app).transaction() as session:
        assert session.get(PersonScore, lead["Id"]).behaviour == 50 + 5


@pytest.mark.slow
def test_a_new_applicant_s_form_points_never_go_to_someone_else_on_the_same_browser(make_app, devorg):
    app = org_app(make_app, devorg)
    client = app.test_client()
    someone_else = lead_id(77)
    browse_anonymously(app)
    submit(client, f"/f/materials_request?tvid={linker(VID)}", REQUEST)
    with dbmod.get_db(app).transaction() as session:
        # While the new Lead is being written, someone else arrives on the same computer from a mail.
        tracking.link_visitor(session, VID, someone_else, linked_by="mail")
    score_everything(app)  # the earlier browsing is theirs now; the form is nobody's yet
    with dbmod.get_db(app).transaction() as session:
        assert session.get(PersonScore, someone_else).behaviour == 5
    work_until(app, all_status(app, "written"))
    (lead,) = devorg.records("Lead")
    score_everything(app)
    assert visitors(app) == {VID: (lead["Id"], "form")}  # the browser is the newest person's now
    with dbmod.get_db(app).transaction() as session:
        assert session.get(PersonScore, lead["Id"]).behaviour == 50
        assert session.get(PersonScore, someone_else).behaviour == 5
