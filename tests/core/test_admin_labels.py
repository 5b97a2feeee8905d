"""Every label the console shows is translated (issue 14, item 6): field labels in lists, filters and forms of
every registered model of our apps, and the pages themselves rendered in Chinese."""

import re

import pytest
from django.contrib import admin
from django.contrib.admin.utils import label_for_field
from django.urls import NoReverseMatch, reverse
from django.utils import translation

from core.field_labels import OUR_APPS
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CJK = re.compile(r"[\u4e00-\u9fff]")
UNIVERSAL = {"id", "pk", "__str__"}  # "ID" reads the same in Chinese


def shown_fields(model, model_admin):
    names = {n for n in model_admin.list_display if isinstance(n, str)}
    names |= {n for n in model_admin.readonly_fields if isinstance(n, str)}
    names |= {f for f in model_admin.list_filter if isinstance(f, str)}
    for _title, options in model_admin.fieldsets or ():
        for entry in options.get("fields", ()):
            names |= set(entry) if isinstance(entry, (list, tuple)) else {entry}
    if not model_admin.fieldsets:
        names |= {f.name for f in model._meta.fields if f.editable and not f.auto_created}
    return {n for n in names if n not in UNIVERSAL and "__" not in n}


def test_every_field_label_of_the_console_is_translated():
    untranslated = []
    with translation.override("zh-hans"):
        for model, model_admin in admin.site._registry.items():
            if model._meta.app_label not in OUR_APPS:
                continue
            for name in shown_fields(model, model_admin):
                label = str(label_for_field(name, model, model_admin))
                if not CJK.search(label):
                    untranslated.append(f"{model._meta.label}.{name}: {label!r}")
    assert untranslated == []


def test_console_pages_in_chinese_show_no_english_labels(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    english = []
    for model in admin.site._registry:
        if model._meta.app_label not in OUR_APPS:
            continue
        for page in ("changelist", "add"):
            try:
                url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{page}")
            except NoReverseMatch:
                continue
            response = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans")
            if response.status_code != 200:
                continue
            html = response.content.decode()
            labels = re.findall(r"<label[^>]*>([^<]{2,60})<", html) + re.findall(
                r'<th scope="col"[^>]*>\s*(?:<div class="text">)?(?:<a[^>]*>)?(?:<span>)?([^<]{2,60})<', html
            )
            english += [f"{url}: {t.strip()}" for t in labels if re.search(r"[A-Za-z]{3}", t) and not CJK.search(t)]
    assert english == []
