import pytest


@pytest.mark.django_db
def test_home_page_renders_in_chinese_by_default(client):
    response = client.get("/")
    assert response.status_code == 200
    assert 'lang="zh-hans"' in response.content.decode()


def test_favicon_ico_points_at_the_brand_icon(client):
    """Admin pages carry no icon link; the browser's /favicon.ico request finds the icon (no 404)."""
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("img/redcard.svg")
    assert client.get(response["Location"]).status_code == 200
