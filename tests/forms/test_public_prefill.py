"""A signed link prefills a public form only with the fields that form declares for the public.

The attack from issue 13: the revisit booking link (sent after a 不在 visit) showed the Contact's
internal Description note in the form's own Description box to whoever opened the link.
"""

from __future__ import annotations

from forms.links import signed_form_url

NOTE = "支払い遅延あり・要注意顧客"


def _open(app, client, form_key: str, person_id: str) -> str:
    with app.test_request_context():
        path = signed_form_url(form_key, person_id).removeprefix("http://localhost")
    response = client.get(path)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_revisit_booking_page_never_shows_the_customer_s_internal_note(examples, client, app, seed_mirror):
    member = seed_mirror("Contact", LastName="高橋", FirstName="健", Email="ken@example.jp", Description=NOTE)
    page = _open(app, client, "revisit_booking", member["Id"])
    assert NOTE not in page
    assert "高橋" not in page  # nothing of the person that the form does not ask for either


def test_the_materials_request_link_prefills_contact_details_but_not_the_note(examples, client, app, seed_mirror):
    lead = seed_mirror("Lead", LastName="高橋", FirstName="健", Email="ken@example.jp", City="横浜市",
                       Description=NOTE)
    page = _open(app, client, "materials_request", lead["Id"])
    assert 'value="高橋"' in page and 'value="ken@example.jp"' in page and 'value="横浜市"' in page
    assert NOTE not in page


def test_an_operator_still_sees_the_chosen_customer_s_fields(examples, sign_in, seed_mirror):
    lead = seed_mirror("Lead", LastName="高橋", FirstName="健", Phone="090-1234-5678", Description="要折り返し")
    page = sign_in("operator").get(f"/forms/trial_set?person={lead['Id']}").get_data(as_text=True)
    assert 'value="高橋"' in page and "要折り返し" in page
