"""Notes from the content app (scope notes:write): upsert by external id, tags, deletion, verified visits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from core.errors import DomainError
from redemptions.attribution import services as attribution
from redemptions.counter.services import redemption_void
from redemptions.models.attribution import AttributionCredit, Note, NoteMerchant
from tests.factories.attribution import redeem, touch
from tests.factories.redemptions import member_with_card, shop

pytestmark = pytest.mark.django_db


def note_body(*merchants, **extra):
    body = {
        "title": "静安寺附近的宝藏咖啡",
        "url": "https://notes.example/n/1",
        "published_at": (timezone.now() - timedelta(hours=3)).isoformat(),
        "merchants": [str(m.public_id) for m in merchants],
        "author_external_id": "writer-9",
    }
    body.update(extra)
    return body


def put_note(client, external_id, body):
    return client.put(reverse("api-note", args=[external_id]), body, format="json")


def test_a_note_is_created_then_updated_by_its_external_id(partner_client):
    client, app = partner_client("notes:write")
    a, b = shop(), shop()
    created = put_note(client, "x-1", note_body(a))
    assert created.status_code == 201, created.content
    assert created.json()["verified_visit"] is False and created.json()["merchants"] == [str(a.public_id)]
    updated = put_note(client, "x-1", note_body(b, title="改了标题"))
    assert updated.status_code == 200
    note = Note.objects.get(source=app, external_id="x-1")
    assert note.title == "改了标题"
    assert list(NoteMerchant.objects.filter(note=note).values_list("merchant_id", flat=True)) == [b.pk]
    assert Note.objects.count() == 1


def test_a_note_tagging_a_merchant_that_does_not_exist_is_refused_and_writes_nothing(partner_client):
    client, _app = partner_client("notes:write")
    body = note_body(shop())
    body["merchants"].append("9b2f6c1e-0000-4000-8000-000000000000")
    response = put_note(client, "x-2", body)
    assert response.status_code == 422 and response.json()["code"] == "note_merchant_unknown"
    assert not Note.objects.exists() and not NoteMerchant.objects.exists()


def test_a_note_needs_an_author_and_at_least_one_merchant(partner_client):
    client, _app = partner_client("notes:write")
    no_author = note_body(shop(), author_external_id="")
    assert put_note(client, "x-3", no_author).status_code == 400
    assert put_note(client, "x-3", note_body()).status_code == 400
    unknown_member = note_body(shop(), author_member="9b2f6c1e-0000-4000-8000-000000000000")
    response = put_note(client, "x-3", unknown_member)
    assert response.status_code == 422 and response.json()["code"] == "note_author_unknown"
    assert not Note.objects.exists()


def test_notes_need_the_notes_write_scope(partner_client):
    client, _app = partner_client("touches:write")
    assert put_note(client, "x-4", note_body(shop())).status_code == 403


def test_deleting_a_note_hides_it_and_reposting_shows_it_again(partner_client, api_client):
    client, _app = partner_client("notes:write")
    merchant = shop()
    put_note(client, "x-5", note_body(merchant))
    listing = reverse("api-merchant-notes", args=[merchant.public_id])
    assert len(api_client.get(listing).json()) == 1
    assert client.delete(reverse("api-note", args=["x-5"])).status_code == 204
    assert Note.objects.get(external_id="x-5").is_hidden
    assert api_client.get(listing).json() == []
    assert client.delete(reverse("api-note", args=["nope"])).json()["code"] == "note_not_found"
    put_note(client, "x-5", note_body(merchant))
    assert len(api_client.get(listing).json()) == 1


def test_another_content_app_cannot_touch_my_notes(partner_client):
    mine, _ = partner_client("notes:write")
    theirs, _ = partner_client("notes:write")
    put_note(mine, "x-6", note_body(shop()))
    assert theirs.delete(reverse("api-note", args=["x-6"])).status_code == 404
    assert not Note.objects.get(external_id="x-6").is_hidden


def test_the_post_redemption_note_is_a_verified_visit_and_spreads(partner_client, person_client, user):
    """The second wave: a member writes a note after a redemption; a reader of that note redeems; the
    note that came out of the first visit is credited with the second."""
    client, _app = partner_client("notes:write")
    merchant = shop()
    writer = member_with_card()
    first = redeem(merchant, writer)
    person_client.force_login(writer)
    invite = person_client.get(reverse("api-redemption-note-invite", args=[first.public_id])).json()
    assert invite["hashtag"] == "#小红卡" and invite["merchant"] == str(merchant.public_id)
    assert "visit_token=" in invite["compose_url"]
    body = note_body(author_member=str(writer.public_id), visit_token=invite["visit_token"])
    body["merchants"] = [str(shop().public_id)]  # the invitation's shop is tagged from the token
    response = put_note(client, "wave-1", body)
    assert response.status_code == 201, response.content
    assert response.json()["verified_visit"] is True
    note = Note.objects.get(external_id="wave-1")
    assert note.redemption == first and note.verified_visit
    assert NoteMerchant.objects.filter(note=note, merchant=merchant).exists()

    reader = member_with_card()
    touch(note, reader, ago=timedelta(hours=2))
    second = redeem(merchant, reader)
    assert AttributionCredit.objects.filter(redemption=second, note=note, model="last").exists()


def test_a_visit_token_only_works_for_its_member_and_a_standing_redemption(partner_client):
    client, _app = partner_client("notes:write")
    merchant = shop()
    writer, stranger = member_with_card(), member_with_card()
    redemption = redeem(merchant, writer)
    token = attribution.note_invite(redemption=redemption, member=writer).visit_token
    stolen = note_body(merchant, author_member=str(stranger.public_id), visit_token=token)
    assert put_note(client, "t-1", stolen).json()["code"] == "visit_token_invalid"
    forged = note_body(merchant, author_member=str(writer.public_id), visit_token=token + "x")
    assert put_note(client, "t-2", forged).json()["code"] == "visit_token_invalid"
    assert not Note.objects.exists()
    assert (
        put_note(client, "t-3", note_body(merchant, author_member=str(writer.public_id), visit_token=token)).status_code
        == 201
    )
    again = put_note(client, "t-4", note_body(merchant, author_member=str(writer.public_id), visit_token=token))
    assert again.json()["code"] == "visit_token_invalid"  # one note per visit
    redemption_void(redemption=redemption, actor="system:test", reason="mistake")
    with pytest.raises(DomainError) as excinfo:
        attribution.note_invite(redemption=redemption, member=writer)
    assert excinfo.value.code == "note_invite_unavailable"


def test_the_invitation_is_only_for_the_redemptions_member(person_client):
    redemption = redeem(shop(), member_with_card())
    response = person_client.get(reverse("api-redemption-note-invite", args=[redemption.public_id]))
    assert response.status_code == 404


def test_the_member_page_invites_a_note(client):
    merchant, member = shop(), member_with_card()
    redemption = redeem(merchant, member)
    client.force_login(member)
    page = client.get(reverse("redemptions:note_invite", args=[redemption.public_id]))
    assert page.status_code == 200
    assert "#小红卡" in page.content.decode() and "visit_token=" in page.content.decode()
    client.force_login(member_with_card())
    assert client.get(reverse("redemptions:note_invite", args=[redemption.public_id])).status_code == 404


def test_my_redemptions_page_links_each_visit_to_its_note_invitation(client):
    member = member_with_card()
    redemption = redeem(shop(), member)
    client.force_login(member)
    html = client.get(reverse("redemptions:mine")).content.decode()
    assert reverse("redemptions:note_invite", args=[redemption.public_id]) in html
