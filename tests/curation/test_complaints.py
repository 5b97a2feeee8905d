"""Complaints: filing (and every bad input), the SLA clocks, replies, merchant answers and outcomes."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

from core.errors import DomainError
from curation.models import Complaint
from curation.standing import services as standing
from curation.standing.selectors import complaint_queue, complaint_sla
from tests.factories import MerchantFactory, UserFactory
from tests.factories.redemptions import member_with_card
from tests.factories.standing import JPEG_TINY, PNG_1PX, ComplaintFactory, curator_user, history, owner_of


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def visit(db):
    member = member_with_card()
    shop = MerchantFactory()
    return member, shop, history(member, shop)


def file(member, **kwargs):
    kwargs.setdefault("category", "refused_card")
    kwargs.setdefault("text", "店员说不认识小红卡，拒绝打折")
    return standing.complaint_file(member=member, **kwargs)


def refused(code, fn, *args, **kwargs):
    with pytest.raises(DomainError) as exc:
        fn(*args, **kwargs)
    assert exc.value.code == code
    return exc.value


@pytest.mark.django_db
def test_member_complains_about_own_redemption_and_clocks_start(visit):
    member, shop, redemption = visit
    owner = owner_of(shop)
    now = timezone.now()
    complaint = file(member, redemption=redemption, now=now)
    assert complaint.merchant == shop and complaint.state == Complaint.State.NEW
    assert complaint.first_response_due == now + timedelta(hours=24)
    assert complaint.resolution_due == now + timedelta(hours=72)
    assert owner.notifications.filter(kind="curation.complaint_filed").exists()


@pytest.mark.django_db
def test_sla_hours_are_configurable(visit, settings):
    settings.COMPLAINT_FIRST_RESPONSE_HOURS = 4
    settings.COMPLAINT_RESOLUTION_HOURS = 48
    member, _, redemption = visit
    now = timezone.now()
    complaint = file(member, redemption=redemption, now=now)
    assert complaint.first_response_due == now + timedelta(hours=4)
    assert complaint.resolution_due == now + timedelta(hours=48)


@pytest.mark.django_db
def test_someone_elses_redemption_is_refused(visit):
    _, _, redemption = visit
    refused("complaint_redemption_not_yours", file, member_with_card(), redemption=redemption)
    assert not Complaint.objects.exists()


@pytest.mark.django_db
def test_shop_never_visited_is_refused_and_visited_shop_accepted(visit):
    member, shop, _ = visit
    refused("complaint_merchant_not_visited", file, member, merchant=MerchantFactory())
    other = member_with_card()
    history(other, shop, status="voided")
    refused("complaint_merchant_not_visited", file, other, merchant=shop)  # a voided visit does not count
    assert file(member, merchant=shop, category="hygiene").redemption is None


@pytest.mark.django_db
def test_a_target_is_required(visit):
    refused("complaint_target_required", file, visit[0])


@pytest.mark.django_db
def test_duplicate_within_a_minute_is_refused(visit):
    member, _, redemption = visit
    now = timezone.now()
    file(member, redemption=redemption, now=now)
    refused("complaint_duplicate", file, member, redemption=redemption, now=now + timedelta(seconds=59))
    file(member, redemption=redemption, now=now + timedelta(seconds=59), category="service")  # another matter
    file(member, redemption=redemption, now=now + timedelta(seconds=61))
    assert Complaint.objects.count() == 3


@pytest.mark.django_db
@pytest.mark.parametrize(("text", "code"), [("", "complaint_text_required"), ("   ", "complaint_text_required")])
def test_empty_text_is_refused(visit, text, code):
    refused(code, file, visit[0], redemption=visit[2], text=text)


@pytest.mark.django_db
def test_over_long_text_is_refused_and_the_limit_accepted(visit):
    member, _, redemption = visit
    error = refused("complaint_text_too_long", file, member, redemption=redemption, text="差" * 2001)
    assert "2000" in error.detail
    assert len(file(member, redemption=redemption, text="差" * 2000).text) == 2000


@pytest.mark.django_db
def test_bad_category_is_refused(visit):
    refused("complaint_category_invalid", file, visit[0], redemption=visit[2], category="rude")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "content",
    [
        b"this is not an image at all",
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 4,  # a PNG signature with nothing behind it
        b"\xff\xd8\xff\xe0" + b"\x00" * 40,  # JPEG start without an end
        b"RIFF\x10\x00\x00\x00WEBPVP8 ",  # a WebP header whose size lies
        b"GIF89a" + b"\x00" * 40,
    ],
)
def test_photo_that_is_not_an_image_is_refused_and_nothing_is_stored(visit, content, tmp_path):
    member, _, redemption = visit
    photo = SimpleUploadedFile("photo.jpg", content, content_type="image/jpeg")
    refused("complaint_photo_not_image", file, member, redemption=redemption, photo=photo)
    assert not Complaint.objects.exists()
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


@pytest.mark.django_db
def test_photo_too_large_is_refused(visit, tmp_path):
    member, _, redemption = visit
    big = PNG_1PX + b"\x00" * (5 * 1024 * 1024 + 1 - len(PNG_1PX))
    error = refused(
        "complaint_photo_too_large", file, member, redemption=redemption, photo=SimpleUploadedFile("a.png", big)
    )
    assert "5" in error.detail
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


@pytest.mark.django_db
@pytest.mark.parametrize(("content", "ext"), [(PNG_1PX, "png"), (JPEG_TINY, "jpg")])
def test_real_photo_is_stored_under_an_opaque_name(visit, content, ext):
    member, _, redemption = visit
    complaint = file(member, redemption=redemption, photo=SimpleUploadedFile("我的照片.gif", content))
    assert complaint.photo.name.endswith("." + ext) and "我的照片" not in complaint.photo.name
    assert default_storage.open(complaint.photo.name).read() == content


@pytest.mark.django_db
def test_photo_is_deleted_when_the_complaint_is_refused_after_saving_it(visit, tmp_path):
    member, _, redemption = visit
    now = timezone.now()
    file(member, redemption=redemption, now=now)
    photo = SimpleUploadedFile("a.png", PNG_1PX)
    refused("complaint_duplicate", file, member, redemption=redemption, photo=photo, now=now)
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_submissions_make_one_ticket():
    member = member_with_card()
    shop = MerchantFactory()
    redemption = history(member, shop)
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def submit():
        try:
            barrier.wait()
            file(member, redemption=redemption)
            outcomes.append("created")
        except DomainError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["complaint_duplicate"] * 3 + ["created"]
    assert Complaint.objects.count() == 1


# --- handling -----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_first_reply_stops_the_first_response_clock_and_tells_the_member(
    visit, mailoutbox, django_capture_on_commit_callbacks
):
    member, _, redemption = visit
    curator = curator_user()
    complaint = file(member, redemption=redemption)
    with django_capture_on_commit_callbacks(execute=True):
        standing.complaint_reply(complaint=complaint, actor=curator, body="您好，我们已联系商户核实。")
    complaint.refresh_from_db()
    assert complaint.state == Complaint.State.ANSWERED and complaint.first_responded_at is not None
    assert complaint.assignee == curator
    assert member.notifications.filter(kind="curation.complaint_reply").exists()
    assert any("我们已联系商户核实" in m.body for m in mailoutbox)


@pytest.mark.django_db
def test_internal_note_does_not_count_as_a_response(visit):
    member, _, redemption = visit
    complaint = file(member, redemption=redemption)
    standing.complaint_reply(complaint=complaint, actor=curator_user(), body="先打电话给店长", internal=True)
    complaint.refresh_from_db()
    assert complaint.state == Complaint.State.NEW and complaint.first_responded_at is None
    assert not member.notifications.filter(kind="curation.complaint_reply").exists()


@pytest.mark.django_db
def test_resolve_with_outcome_and_no_change_after(visit):
    member, _, redemption = visit
    curator = curator_user()
    complaint = file(member, redemption=redemption)
    refused(
        "complaint_outcome_invalid",
        standing.complaint_resolve,
        complaint=complaint,
        actor=curator,
        outcome="x",
        note="n",
    )
    refused(
        "complaint_message_required",
        standing.complaint_resolve,
        complaint=complaint,
        actor=curator,
        outcome="upheld",
        note="",
    )
    standing.complaint_resolve(complaint=complaint, actor=curator, outcome="refunded_discount", note="已退还折扣差价")
    complaint.refresh_from_db()
    assert complaint.state == Complaint.State.RESOLVED and complaint.outcome == "refunded_discount"
    assert complaint.first_responded_at == complaint.resolved_at
    assert member.notifications.filter(kind="curation.complaint_resolved").exists()
    refused("complaint_closed", standing.complaint_reply, complaint=complaint, actor=curator, body="再说一句")


@pytest.mark.django_db
def test_only_curators_handle_complaints(visit):
    member, _, redemption = visit
    complaint = file(member, redemption=redemption)
    refused("curator_required", standing.complaint_reply, complaint=complaint, actor=member, body="我自己回复")
    refused("curator_required", standing.complaint_assign, complaint=complaint, assignee=member, actor=curator_user())


@pytest.mark.django_db
def test_owner_answers_a_complaint_about_their_shop_others_cannot(visit):
    member, shop, redemption = visit
    owner = owner_of(shop)
    curator = curator_user()
    complaint = file(member, redemption=redemption)
    standing.complaint_assign(complaint=complaint, assignee=curator, actor=curator)
    message = standing.complaint_merchant_answer(complaint=complaint, actor=owner, body="当天新员工不熟悉，已培训")
    assert message.author_role == "merchant"
    assert curator.notifications.filter(kind="curation.complaint_merchant_answer").exists()
    refused("owner_required", standing.complaint_merchant_answer, complaint=complaint, actor=UserFactory(), body="x")


@pytest.mark.clock
@pytest.mark.django_db
def test_sla_breaches_are_computed_at_any_time():
    now = timezone.now()
    late = ComplaintFactory(created_at=now - timedelta(hours=25))
    fresh = ComplaintFactory(created_at=now - timedelta(hours=1))
    very_late = ComplaintFactory(
        created_at=now - timedelta(hours=80), state="answered", first_responded_at=now - timedelta(hours=79)
    )
    sla = complaint_sla(complaint=late, now=now)
    assert sla.first_response_breached and not sla.resolution_breached
    assert not complaint_sla(complaint=fresh, now=now).breached
    very = complaint_sla(complaint=very_late, now=now)
    assert not very.first_response_breached and very.resolution_breached
    queue = {c.pk: c for c in complaint_queue()}
    assert queue[late.pk].first_response_breached and not queue[fresh.pk].first_response_breached
    assert queue[very_late.pk].resolution_breached
    assert list(queue) == [very_late.pk, late.pk, fresh.pk]  # oldest first
