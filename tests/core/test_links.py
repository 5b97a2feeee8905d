"""core.links: one registry of slots for links and page sections that higher apps put on lower apps' pages."""

from django.test import RequestFactory
from django.utils.safestring import SafeString, mark_safe

from core import links


def test_a_slot_serves_links_and_sections_apart_by_order_and_registers_each_provider_once():
    slot = "tests.page"
    request = RequestFactory().get("/")

    def later_link(request, *, thing):
        return links.Link(label=f"later {thing}", url="/b", order=200)

    def first_link(request, *, thing):
        return links.Link(label=f"first {thing}", url="/a", order=10)

    def block(request, *, thing):
        return links.Section(html=mark_safe(f"<p>{thing}</p>"))  # noqa: S308 (a literal)

    def nothing(request, *, thing):
        return None

    for provider in (later_link, first_link, block, nothing, block):
        links.provide(slot)(provider)
    try:
        assert [link.label for link in links.links(slot, request, thing="x")] == ["first x", "later x"]
        (section,) = links.sections(slot, request, thing="x")
        assert section.html == "<p>x</p>" and isinstance(section.html, SafeString)
        assert links.links("tests.nobody", request) == [] and links.sections("tests.nobody", request) == []
    finally:
        links._PROVIDERS.pop(slot)
