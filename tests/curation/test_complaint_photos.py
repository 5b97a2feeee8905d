"""Issue 18: complaint photos are private files. The member who filed the complaint and curators/operators see
them through a view that checks who asks (the console's link goes there); other members, shop staff and
anonymous visitors do not. On the file system the view streams the file; on S3-compatible object storage it
redirects to a signed URL that lives seconds (exercised with boto3 against a loopback S3 server, moto with the
presigned-URL checks S3 makes: tests/s3server.py)."""

from __future__ import annotations

import re
import socket
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from django.contrib.auth.models import Group
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from curation.standing import services as standing
from tests.factories import MerchantFactory, UserFactory
from tests.factories.redemptions import member_with_card
from tests.factories.standing import PNG_1PX, curator_user, history, owner_of

pytestmark = pytest.mark.django_db


def complaint_with_photo():
    member = member_with_card()
    shop = MerchantFactory()
    return standing.complaint_file(
        member=member,
        category="refused_card",
        text="店员拒绝打折",
        redemption=history(member, shop),
        photo=SimpleUploadedFile("receipt.png", PNG_1PX),
    )


@pytest.fixture
def complaint():
    return complaint_with_photo()


def photo_url(complaint) -> str:
    return reverse("curation:complaint_photo", kwargs={"public_id": complaint.public_id})


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_the_member_who_filed_it_sees_the_photo(client, complaint):
    client.force_login(complaint.member)
    response = client.get(photo_url(complaint))
    assert response.status_code == 200
    assert body(response) == PNG_1PX
    assert response["Content-Type"] == "image/png"
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]
    assert response["X-Content-Type-Options"] == "nosniff"
    # The member's own ticket page links there.
    page = client.get(reverse("curation:complaint_detail", kwargs={"public_id": complaint.public_id}))
    assert photo_url(complaint) in page.content.decode()


@pytest.mark.parametrize("group", ["curator", "operator"])
def test_curators_and_operators_see_the_photo(client, complaint, group):
    person = UserFactory(is_staff=True)
    person.groups.add(Group.objects.get(name=group))
    client.force_login(person)
    response = client.get(photo_url(complaint))
    assert response.status_code == 200 and body(response) == PNG_1PX


def test_other_people_do_not(client, complaint):
    assert client.get(photo_url(complaint)).status_code == 302  # anonymous: to the login page, no photo
    assert "/accounts/login/" in client.get(photo_url(complaint))["Location"]
    others = [
        UserFactory(),  # another member
        owner_of(complaint.merchant),  # the shop's owner reads the complaint, not the member's photo
        UserFactory(is_staff=True),  # staff without the complaint permission
    ]
    for person in others:
        client.force_login(person)
        response = client.get(photo_url(complaint))
        assert response.status_code == 404, person
        assert PNG_1PX not in body(response)


def test_a_complaint_without_a_photo_has_none_to_serve(client):
    member = member_with_card()
    complaint = standing.complaint_file(
        member=member, category="service", text="态度差", redemption=history(member, MerchantFactory())
    )
    client.force_login(member)
    assert client.get(photo_url(complaint)).status_code == 404


def test_the_console_link_opens_the_photo(client, complaint):
    client.force_login(curator_user())
    page = client.get(reverse("admin:curation_complaint_change", args=[complaint.pk]))
    assert page.status_code == 200
    links = re.findall(r'href="([^"]*/photo/)"', page.content.decode())
    assert links == [photo_url(complaint)]
    response = client.get(links[0])
    assert response.status_code == 200 and body(response) == PNG_1PX


# --- S3-compatible object storage (production) ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def s3(settings):
    """A loopback S3 server (moto, presigned URLs checked as S3 does) with a private bucket, and the default storage
    switched to it: signed URLs live REDCARD_PRIVATE_FILE_URL_SECONDS (2 s here)."""
    from tests.s3server import ACCESS_KEY, REGION, SECRET_KEY, S3Server

    port = free_port()
    server = S3Server(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    settings.REDCARD_PRIVATE_FILE_URL_SECONDS = 2
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": "redcard-media",
                "endpoint_url": endpoint,
                "region_name": REGION,
                "access_key": ACCESS_KEY,
                "secret_key": SECRET_KEY,
                "addressing_style": "path",
                "signature_version": "s3v4",
                "default_acl": None,
                "querystring_auth": True,
                "querystring_expire": 2,
                "file_overwrite": False,
            },
        },
    }
    storage = storages["default"]
    storage.connection.meta.client.create_bucket(Bucket="redcard-media")
    try:
        yield endpoint
    finally:
        server.stop()


def test_on_object_storage_the_photo_is_a_short_lived_signed_url(client, s3):
    complaint = complaint_with_photo()  # stored in the bucket (the fixture s3 switched the storage first)
    key = complaint.photo.name
    # Stored in the bucket, not on this node's disk; the bucket itself answers no unsigned request.
    assert requests.get(f"{s3}/redcard-media/{key}", timeout=5).status_code == 403

    client.force_login(UserFactory())
    assert client.get(photo_url(complaint)).status_code == 404  # another member: no URL at all

    client.force_login(complaint.member)
    response = client.get(photo_url(complaint))
    assert response.status_code == 302
    signed = response["Location"]
    assert signed.startswith(f"{s3}/redcard-media/{key}?")
    query = parse_qs(urlsplit(signed).query)
    assert query["X-Amz-Expires"] == ["2"] and "X-Amz-Signature" in query
    assert "no-store" in response["Cache-Control"]
    fetched = requests.get(signed, timeout=5)
    assert fetched.status_code == 200 and fetched.content == PNG_1PX
    assert fetched.headers["Content-Type"] == "image/png"


def signed_photo_url(client, complaint) -> str:
    response = client.get(photo_url(complaint))
    assert response.status_code == 302 and "no-store" in response["Cache-Control"]
    return response["Location"]


def test_a_curators_signed_url_works_then_is_refused_after_its_expiry(client, s3, settings):
    complaint = complaint_with_photo()  # stored in the bucket (the fixture s3 switched the storage first)
    client.force_login(curator_user())
    signed = signed_photo_url(client, complaint)
    query = parse_qs(urlsplit(signed).query)
    assert query["X-Amz-Expires"] == [str(settings.REDCARD_PRIVATE_FILE_URL_SECONDS)]
    fetched = requests.get(signed, timeout=5)
    assert fetched.status_code == 200 and fetched.content == PNG_1PX

    # The life is part of what is signed: a URL whose expiry was lengthened is refused.
    longer = {k: v[0] for k, v in query.items()} | {"X-Amz-Expires": "3600"}
    tampered = signed.split("?")[0] + "?" + urlencode(longer)
    refused = requests.get(tampered, timeout=5)
    assert refused.status_code == 403 and b"SignatureDoesNotMatch" in refused.content

    # Past its life, the same URL is refused; the curator asks the view again for a fresh one.
    time.sleep(settings.REDCARD_PRIVATE_FILE_URL_SECONDS + 1.5)
    expired = requests.get(signed, timeout=5)
    assert expired.status_code == 403 and b"Request has expired" in expired.content
    assert PNG_1PX not in expired.content
    fresh = requests.get(signed_photo_url(client, complaint), timeout=5)
    assert fresh.status_code == 200 and fresh.content == PNG_1PX


def test_non_curators_never_get_a_signed_url(client, s3):
    complaint = complaint_with_photo()  # stored in the bucket (the fixture s3 switched the storage first)
    assert "/accounts/login/" in client.get(photo_url(complaint))["Location"]  # anonymous: the login page
    staff_without_the_permission = UserFactory(is_staff=True)
    for person in (UserFactory(), owner_of(complaint.merchant), staff_without_the_permission):
        client.force_login(person)
        response = client.get(photo_url(complaint))
        assert response.status_code == 404, person
        assert "X-Amz-Signature" not in response.get("Location", "") + body(response).decode(errors="replace")
