"""Pages: the card one tap from home, the scanner, the stand, tap-to-claim, my redemptions; CSP-clean."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from redemptions.counter import services
from redemptions.models import Claim, NfcTag
from tests.factories.redemptions import code_of, member_with_card

pytestmark = pytest.mark.django_db

ZERO = "0" * 32


def assert_csp_clean(html: str) -> None:
    executable = re.search(r"<script(?![^>]*\b(?:src=|type=\"application/json\"))[^>]*>\s*[^<\s]", html)
    assert not executable, "inline script"
    assert ' style="' not in html and not re.search(r"\son[a-z]+=\"", html)


def test_home_offers_the_card_as_the_primary_link(client, member):
    client.force_login(member)
    html = client.get("/").content.decode()
    card_url = reverse("redemptions:card")
    assert re.search(rf'class="button primary block" href="{card_url}"', html)


def test_card_shows_a_qr_code_its_number_and_the_savings_meter(client, member):
    client.force_login(member)
    response = client.get(reverse("redemptions:card"))
    html = response.content.decode()
    assert response.status_code == 200 and "<svg" in html and 'id="rc-card-data"' in html
    assert code_of(member).numeric in html or code_of(member, ahead=-1).numeric in html
    assert "<progress" in html
    assert_csp_clean(html)


def test_card_of_a_member_without_a_card_sends_them_to_membership(client):
    from tests.factories import UserFactory

    client.force_login(UserFactory())
    html = client.get(reverse("redemptions:card")).content.decode()
    assert "<svg" not in html and reverse("members:membership") in html


def test_scanner_is_for_the_shops_staff_only(client, merchant, staff, member):
    client.force_login(staff)
    assert client.get(reverse("redemptions:scanner_pick")).status_code == 302
    html = client.get(reverse("redemptions:scanner", args=[merchant.public_id])).content.decode()
    assert 'id="rc-state"' in html and "scanner.webmanifest" in html and "zxing_reader.wasm" in html
    assert_csp_clean(html)
    client.force_login(member)
    assert client.get(reverse("redemptions:scanner", args=[merchant.public_id])).status_code == 404


def test_stand_registers_tags_and_prints_the_claim_qr(client, merchant, staff):
    client.force_login(staff)
    url = reverse("redemptions:stand", args=[merchant.public_id])
    client.post(url, {"label": "till 1", "kind": "sun", "meta_read_key": ZERO, "file_read_key": ZERO})
    client.post(url, {"label": "bad", "kind": "sun", "meta_read_key": "xyz", "file_read_key": ZERO})
    assert list(NfcTag.objects.values_list("label", flat=True)) == ["till 1"]
    html = client.get(url).content.decode()
    assert "<svg" in html and f"/r/m/{merchant.public_id}/claim/?t=" in html and "picc=" in html


def test_qr_stand_is_an_svg_pointing_at_the_claim_url(client, merchant):
    """One QR stand (it was also a merchants console page): the shop's name, its offer, a print button and the
    QR code to the claim page, with no inline script or style before the code."""
    from merchants.models import MerchantStaff
    from tests.factories import MerchantStaffFactory

    owner = MerchantStaffFactory(merchant=merchant, role=MerchantStaff.Role.OWNER).user
    client.force_login(owner)
    page = client.get(reverse("redemptions:stand", args=[merchant.public_id])).content.decode()
    assert "<svg" in page and f"/r/m/{merchant.public_id}/claim/" in page
    assert "<script>" not in page and "style=" not in page.split("<svg", 1)[0].split("<body", 1)[1]
    assert 'id="print-stand"' in page and "12%" in page


def test_staff_of_another_shop_gets_404_on_the_stand(client, merchant):
    from tests.factories import MerchantFactory, MerchantStaffFactory

    other = MerchantFactory(name_zh="乙店")
    client.force_login(MerchantStaffFactory(merchant=other).user)
    response = client.get(reverse("redemptions:stand", args=[merchant.public_id]))
    assert response.status_code == 404 and merchant.name_zh not in response.content.decode()


def test_member_claims_at_the_counter_and_sees_the_live_screen(client, merchant, member, staff):
    client.force_login(member)
    claim_url = reverse("redemptions:claim", args=[merchant.public_id])
    assert client.get(claim_url).status_code == 200
    response = client.post(claim_url, {"bill": "88.00"})
    claim = Claim.objects.get()
    assert response.status_code == 302 and response.url == reverse("redemptions:claim_live", args=[claim.public_id])
    html = client.get(response.url).content.decode()
    assert f"#{claim.short_number}" in html and member.masked_name in html and "77.44" in html
    assert_csp_clean(html)
    redemption = services.claim_confirm(claim=claim, merchant=merchant, staff=staff)
    assert redemption.channel == "member_claim" and redemption.bill_fen == 8800


def test_claim_with_a_bad_bill_stays_on_the_form_with_the_reason(client, merchant, member):
    client.force_login(member)
    response = client.post(reverse("redemptions:claim", args=[merchant.public_id]), {"bill": "８８"})
    assert response.status_code == 422 and b'data-code="bill_invalid"' in response.content
    assert not Claim.objects.exists()


def test_sun_tap_is_verified_once_and_a_replay_is_refused(client, merchant, staff):
    from redemptions.models import RefusedScan

    tag = services.tag_register(
        merchant=merchant, actor=staff, label="till", kind="sun", meta_read_key=ZERO, file_read_key=ZERO
    )
    member = member_with_card()
    client.force_login(member)
    url = reverse("redemptions:claim", args=[merchant.public_id])
    query = {"t": str(tag.public_id), "picc": "EF963FF7828658A599F3041510671E88", "cmac": "94EED9EE65337086"}
    first = client.get(url, query)
    assert b"rc-error" not in first.content
    tag.refresh_from_db()
    assert (tag.uid, tag.last_counter) == ("04DE5F1EACC040", 61)
    client.post(url, {"bill": "50"})
    assert Claim.objects.get().tag_verified
    replay = client.get(url, query)
    assert b'data-code="tag_replayed"' in replay.content
    assert RefusedScan.objects.filter(reason="tag_replayed", step="tap").exists()


def test_my_redemptions_lists_savings_per_visit(client, merchant, counter, member, django_assert_max_num_queries):
    from datetime import timedelta

    from django.utils import timezone

    from redemptions.counter.selectors import merchant_by_public_id
    from tests.factories.redemptions import shop, staff_of

    other = merchant_by_public_id(public_id=shop().public_id)
    services.redemption_confirm(merchant=merchant, counter=counter, bill=10000, code=code_of(member).qr)
    later = timezone.now() + timedelta(seconds=30)
    services.redemption_confirm(
        merchant=other,
        counter=services.Counter(staff=staff_of(other)),
        bill=5000,
        code=code_of(member, at=later).qr,
        at=later,
    )
    client.force_login(member)
    with django_assert_max_num_queries(10):
        html = client.get(reverse("redemptions:mine")).content.decode()
    assert "12.00" in html and "6.00" in html and "18.00" in html


def test_the_service_worker_is_served_for_the_scanner_and_the_card(client):
    from django.templatetags.static import static

    response = client.get(reverse("redemptions:service_worker"))
    assert response.status_code == 200 and response["Content-Type"].startswith("application/javascript")
    body = response.content.decode()
    assert static("js/redemptions-scanner.js") in body and static("vendor/barcode-detector/zxing_reader.wasm") in body
    assert "/r/" in reverse("redemptions:service_worker") and response["Cache-Control"] == "no-cache"


def test_the_scanners_manifest_has_png_icons_of_the_sizes_it_claims():
    import json
    import struct
    from pathlib import Path

    from django.conf import settings

    root = Path(settings.BASE_DIR) / "static"
    manifest = json.loads((root / "manifest" / "scanner.webmanifest").read_text())
    pngs = [icon for icon in manifest["icons"] if icon["type"] == "image/png"]
    assert {icon["sizes"] for icon in pngs} >= {"192x192", "512x512"}
    assert any(icon["purpose"] == "maskable" for icon in pngs)
    for icon in pngs:
        data = (root / icon["src"].removeprefix("/static/")).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", data[16:24])
        assert f"{width}x{height}" == icon["sizes"]
