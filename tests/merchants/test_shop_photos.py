"""Shop photos (issue 14, item 5): the owner uploads, a curator shows or refuses with a reason, the shop page
shows what was approved; a waiting photo is seen only by the shop and the console; bad uploads are refused."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from core.models import AuditEntry
from merchants.models import MerchantPhoto, MerchantStaff
from tests.factories import UserFactory
from tests.factories.merchants import MerchantFactory, MerchantStaffFactory
from tests.factories.standing import PNG_1PX, curator_user

pytestmark = pytest.mark.django_db


def png(name="room.png"):
    return SimpleUploadedFile(name, PNG_1PX, content_type="image/png")


def client_of(person) -> Client:
    client = Client()
    client.force_login(person)
    return client


@pytest.fixture
def shop():
    return MerchantFactory(name_zh="弄堂面馆")


@pytest.fixture
def owner(shop):
    return MerchantStaffFactory(merchant=shop, role=MerchantStaff.Role.OWNER).user


def upload(owner, shop, file, caption="堂食区"):
    return client_of(owner).post(
        f"/merchants/console/{shop.public_id}/photos/", {"photo": file, "caption": caption}, follow=True
    )


def test_an_uploaded_photo_waits_for_a_curator_then_appears_on_the_shop_page(client, shop, owner):
    page = upload(owner, shop, png())
    assert "审核" in page.content.decode()
    photo = MerchantPhoto.objects.get()
    assert photo.state == "pending" and photo.image.name.endswith(".png")
    url = f"/merchants/photos/{photo.public_id}/"
    assert 'id="shop-photos"' not in client.get(f"/merchants/m/{shop.public_id}/").content.decode()
    assert client.get(url).status_code == 404  # not public while waiting
    assert client_of(owner).get(url).status_code == 200  # the shop sees its own

    console = client_of(curator_user())
    assert "1" in console.get("/admin/").content.decode()  # counted on the queue home
    done = console.post(
        "/admin/merchants/merchantphoto/", {"action": "show", "_selected_action": [photo.pk]}, follow=True
    )
    assert done.status_code == 200
    photo.refresh_from_db()
    assert photo.state == "approved" and photo.decided_at is not None
    shop_page = client.get(f"/merchants/m/{shop.public_id}/").content.decode()
    assert 'id="shop-photos"' in shop_page and url in shop_page and "堂食区" in shop_page
    served = client.get(url)
    assert served.status_code == 200 and b"".join(served.streaming_content) == PNG_1PX
    assert owner.notifications.filter(kind="merchants.shop_photo").exists()
    assert AuditEntry.objects.filter(action="merchants.shop_photo_decide").exists()


def test_a_refusal_needs_a_reason_and_tells_the_owner(shop, owner):
    upload(owner, shop, png())
    photo = MerchantPhoto.objects.get()
    console = client_of(curator_user())
    changelist = "/admin/merchants/merchantphoto/"
    asked = console.post(changelist, {"action": "refuse", "_selected_action": [photo.pk]})
    assert asked.status_code == 200 and 'name="reason"' in asked.content.decode()
    console.post(
        changelist, {"action": "refuse", "_selected_action": [photo.pk], "apply": "1", "reason": "照片不是本店"}
    )
    photo.refresh_from_db()
    assert photo.state == "rejected" and photo.decision_reason == "照片不是本店"
    notice = owner.notifications.get(kind="merchants.shop_photo")
    assert "照片不是本店" in notice.body
    assert "照片不是本店" in client_of(owner).get(f"/merchants/console/{shop.public_id}/").content.decode()


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "shop_photo_not_image"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "shop_photo_not_image"),  # a PNG signature without its header
    ],
)
def test_what_is_not_an_image_is_refused_and_nothing_is_kept(shop, owner, content, code):
    page = upload(owner, shop, SimpleUploadedFile("evil.png", content, content_type="image/png"))
    assert "JPEG、PNG" in page.content.decode() or "JPEG" in page.content.decode()
    assert not MerchantPhoto.objects.exists()


def test_the_limit_counts_shown_and_waiting_photos(shop, owner):
    for _ in range(MerchantPhoto.LIMIT):
        upload(owner, shop, png())
    page = upload(owner, shop, png())
    assert "最多" in page.content.decode()
    assert MerchantPhoto.objects.count() == MerchantPhoto.LIMIT


def test_only_owners_upload_and_other_people_cannot_see_waiting_photos(client, shop, owner):
    staff = MerchantStaffFactory(merchant=shop).user
    upload(staff, shop, png())
    assert not MerchantPhoto.objects.exists()
    upload(owner, shop, png())
    photo = MerchantPhoto.objects.get()
    assert client_of(UserFactory()).get(f"/merchants/photos/{photo.public_id}/").status_code == 404
    other_owner = MerchantStaffFactory(role=MerchantStaff.Role.OWNER).user
    removed = client_of(other_owner).post(f"/merchants/console/{shop.public_id}/photos/{photo.public_id}/remove/")
    assert removed.status_code == 404 and MerchantPhoto.objects.exists()
    client_of(owner).post(f"/merchants/console/{shop.public_id}/photos/{photo.public_id}/remove/")
    assert not MerchantPhoto.objects.exists()
