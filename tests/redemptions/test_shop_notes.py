"""A shop's public page lists the notes that tag it (issue 14, item 5), newest first, hidden ones left out."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories.attribution import NoteFactory
from tests.factories.merchants import MerchantFactory

pytestmark = pytest.mark.django_db


def test_the_shop_page_lists_the_notes_that_tag_it(client):
    shop, other = MerchantFactory(), MerchantFactory()
    old = NoteFactory(title="去年的探店", tags=[shop], published_at=timezone.now() - timedelta(days=300))
    new = NoteFactory(title="周末早午餐推荐", tags=[shop, other], published_at=timezone.now() - timedelta(days=2))
    NoteFactory(title="别家的笔记", tags=[other])
    NoteFactory(title="已隐藏的笔记", tags=[shop], hidden_at=timezone.now())
    html = client.get(f"/merchants/m/{shop.public_id}/").content.decode()
    section = html[html.index('id="shop-notes"') :]
    section = section[: section.index("</section>")]
    assert section.index(new.title) < section.index(old.title)  # newest first
    assert f'href="{new.url}"' in section
    assert "别家的笔记" not in section and "已隐藏的笔记" not in section


def test_a_shop_without_notes_shows_no_empty_section(client):
    shop = MerchantFactory()
    assert 'id="shop-notes"' not in client.get(f"/merchants/m/{shop.public_id}/").content.decode()
