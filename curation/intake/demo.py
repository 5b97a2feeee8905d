"""Demo applications in every state (draft, submitted, in review, changes requested, approved, rejected,
withdrawn), reviewed by the demo curator through the real services. Idempotent."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.utils import timezone

from core.demo import demo_user
from core.localtime import programme_zone
from core.models import User
from curation.models import Application
from merchants.models import Category, City
from merchants.validators import uscc_check_char

from . import services

APPLICANTS: list[dict[str, Any]] = [
    {
        "state": "draft",
        "city": "shanghai",
        "district": "xuhui",
        "category": "cafe",
        "name": "安福路咖啡",
        "complete": False,
    },
    {"state": "draft", "city": "hangzhou", "district": "xihu", "category": "tea", "name": "龙井茶室"},
    {"state": "submitted", "city": "shanghai", "district": "jingan", "category": "bakery", "name": "巨鹿路面包"},
    {"state": "submitted", "city": "guangzhou", "district": "yuexiu", "category": "noodles", "name": "东山口云吞面"},
    {"state": "in_review", "city": "shanghai", "district": "huangpu", "category": "bistro", "name": "外滩小馆"},
    {
        "state": "in_review",
        "city": "guangzhou",
        "district": "tianhe",
        "category": "fine-dining",  # closed in Guangzhou, rating low: the checklist shows failures
        "name": "天河私房菜",
        "rating": "4.3",
        "spend": 60000,
    },
    {
        "state": "changes_requested",
        "city": "hangzhou",
        "district": "gongshu",
        "category": "noodles",
        "name": "运河片儿川",
    },
    {"state": "approved", "city": "shanghai", "district": "changning", "category": "cafe", "name": "愚园路咖啡"},
    {"state": "approved", "city": "hangzhou", "district": "binjiang", "category": "bakery", "name": "滨江可颂"},
    {"state": "approved", "city": "guangzhou", "district": "haizhu", "category": "tea", "name": "江南西糖水"},
    {
        "state": "rejected",
        "city": "shanghai",
        "district": "pudong",
        "category": "bar",
        "name": "陆家嘴酒廊",
        "rating": "4.1",
    },
    {"state": "withdrawn", "city": "guangzhou", "district": "liwan", "category": "bistro", "name": "恩宁路小馆"},
]


def _uscc(n: int) -> str:
    body = f"91440000MA5C{n:05d}"
    return body + uscc_check_char(body)


def _data(spec: dict[str, Any], n: int) -> dict[str, Any]:
    city = City.objects.get(code=spec["city"])
    district = city.districts.get(code=spec["district"])
    category = Category.objects.get(code=spec["category"])
    data: dict[str, Any] = {
        "name_zh": spec["name"],
        "legal_name": f"{city.name_zh}{spec['name']}餐饮有限公司",
        "uscc": _uscc(n),
        "category": category,
        "city": city,
        "district": district,
    }
    if spec.get("complete", True):
        data.update(
            {
                "name_en": "",
                "food_licence": f"JY2{440000 + n:06d}{n:07d}" if category.is_food else "",
                "address": f"{city.name_zh}{district.name_zh}示例路{n}号",
                "lat": float(city.center_lat) + 0.004 * (n % 5),
                "lng": float(city.center_lng) - 0.003 * (n % 4),
                "average_spend_fen": spec.get("spend", (category.spend_min_fen + category.spend_max_fen) // 2),
                "external_rating": Decimal(spec.get("rating", "4.6")),
                "opening_hours": "mon-sun 10:00-21:30",
                "dine_in": True,
                "offer_rate_bp": 1200,
                "daily_capacity": 60,
                "contact_name": "店长",
                "contact_phone": f"1380000{n:04d}",
                "contact_email": f"applicant{n:02d}@redcard.local",
                "links": "https://www.xiaohongshu.com/explore",
            }
        )
    return data


def seed(out: list[tuple[str, str, str]]) -> None:
    services.rules_install_defaults()
    curator = User.objects.filter(email="curator@redcard.local").first()
    if curator is None:
        return
    pending = len(connection.run_on_commit)
    for n, spec in enumerate(APPLICANTS, start=1):
        owner = demo_user(f"applicant{n:02d}@redcard.local", display_name=f"{spec['name']}申请人")
        if Application.objects.filter(owner=owner).exists():
            continue
        app = services.application_save(owner=owner, data=_data(spec, n))
        if spec["state"] == "draft":
            continue
        if spec["state"] == "withdrawn":
            services.application_withdraw(application=app, actor=owner, reason="暂不加入（演示）")
            continue
        services.application_submit(application=app, actor=owner, now=timezone.now() - timedelta(days=n % 9))
        if spec["state"] == "submitted":
            continue
        services.application_assign(application=app, reviewer=curator, actor=curator)
        services.visit_record(
            application=app,
            visitor=curator,
            visited_on=timezone.localdate(timezone=programme_zone()) - timedelta(days=1),
            score=4,
            notes="环境整洁，出品稳定（演示）",
            actor=curator,
        )
        if spec["state"] == "approved":
            services.application_approve(application=app, actor=curator, message="欢迎加入小红卡！")
        elif spec["state"] == "rejected":
            services.application_reject(
                application=app, actor=curator, reason_code="quality", message="点评评分未达 4.5，欢迎半年后再申请。"
            )
        elif spec["state"] == "changes_requested":
            services.application_request_changes(
                application=app, actor=curator, reason_code="incomplete", message="请补充门店照片和菜单链接。"
            )
    # The demo applicants are not e-mailed (their in-app notices stay).
    del connection.run_on_commit[pending:]
    out.append(("merchant applicant (changes requested)", "applicant07@redcard.local", "redcard-demo"))
