"""Demo data: three cities (2,000 seats in all), their districts and categories, and about 55 merchants."""

from __future__ import annotations

from decimal import Decimal

from .models import Category, City, CityCategory, District

CITIES = [
    # code, zh, en, seats, lat, lng
    ("shanghai", "上海", "Shanghai", 800, "31.230416", "121.473701"),
    ("hangzhou", "杭州", "Hangzhou", 600, "30.274085", "120.155070"),
    ("guangzhou", "广州", "Guangzhou", 600, "23.129110", "113.264385"),
]

DISTRICTS = {
    "shanghai": [
        ("huangpu", "黄浦区", "Huangpu"),
        ("xuhui", "徐汇区", "Xuhui"),
        ("jingan", "静安区", "Jing'an"),
        ("changning", "长宁区", "Changning"),
        ("pudong", "浦东新区", "Pudong"),
    ],
    "hangzhou": [
        ("shangcheng", "上城区", "Shangcheng"),
        ("xihu", "西湖区", "Xihu"),
        ("gongshu", "拱墅区", "Gongshu"),
        ("binjiang", "滨江区", "Binjiang"),
    ],
    "guangzhou": [
        ("yuexiu", "越秀区", "Yuexiu"),
        ("tianhe", "天河区", "Tianhe"),
        ("haizhu", "海珠区", "Haizhu"),
        ("liwan", "荔湾区", "Liwan"),
    ],
}

CATEGORIES = [
    # code, zh, en, food, spend from, spend to (yuan), tier
    ("tea", "茶饮", "Tea & drinks", True, 10, 40, 1),
    ("bakery", "烘焙", "Bakery", True, 15, 60, 1),
    ("cafe", "咖啡", "Café", True, 25, 80, 2),
    ("noodles", "面馆小吃", "Noodles & snacks", True, 20, 80, 1),
    ("bistro", "餐厅", "Restaurant", True, 80, 250, 3),
    ("bar", "酒吧", "Bar", True, 100, 300, 3),
    ("fine-dining", "精致餐饮", "Fine dining", True, 300, 1500, 4),
    ("leisure", "休闲娱乐", "Leisure", False, 60, 400, 2),
]


def seed(out: list[tuple[str, str, str]]) -> None:
    for code, zh, en, seats, lat, lng in CITIES:
        city, _ = City.objects.get_or_create(
            code=code,
            defaults={"name_zh": zh, "name_en": en, "seat_quota": seats, "center_lat": lat, "center_lng": lng},
        )
        for d_code, d_zh, d_en in DISTRICTS[code]:
            District.objects.get_or_create(city=city, code=d_code, defaults={"name_zh": d_zh, "name_en": d_en})
    for code, zh, en, food, low, high, tier in CATEGORIES:
        Category.objects.get_or_create(
            code=code,
            defaults={
                "name_zh": zh,
                "name_en": en,
                "is_food": food,
                "spend_min_fen": low * 100,
                "spend_max_fen": high * 100,
                "price_tier": tier,
            },
        )
    seed_merchants(out)


# --- Demo merchants ------------------------------------------------------------------------------------

DEMO_PASSWORD = "redcard-demo"

# district code -> (lat, lng) of a busy street in it
DISTRICT_CENTRES = {
    "huangpu": (31.2317, 121.4846),
    "xuhui": (31.1950, 121.4380),
    "jingan": (31.2286, 121.4480),
    "changning": (31.2204, 121.4246),
    "pudong": (31.2290, 121.5250),
    "shangcheng": (30.2425, 120.1693),
    "xihu": (30.2595, 120.1303),
    "gongshu": (30.3190, 120.1420),
    "binjiang": (30.2084, 120.2119),
    "yuexiu": (23.1291, 113.2668),
    "tianhe": (23.1326, 113.3312),
    "haizhu": (23.0939, 113.3173),
    "liwan": (23.1259, 113.2443),
}

STREETS = {
    "shanghai": ["南京西路", "淮海中路", "武康路", "愚园路", "巨鹿路", "富民路", "陆家嘴环路", "永康路"],
    "hangzhou": ["南山路", "河坊街", "文三路", "龙井路", "湖墅南路", "江南大道"],
    "guangzhou": ["北京路", "东山口", "天河路", "江南西路", "上下九路", "恩宁路"],
}

# category -> [(zh, en)] shop names
SHOP_NAMES = {
    "tea": [("青柠茶社", "Lime Tea House"), ("山茶小铺", "Camellia Tea"), ("沁心茶饮", "Qinxin Tea")],
    "bakery": [("麦香烘焙", "Wheat Bakery"), ("晨光面包房", "Morning Light Bakery"), ("可颂工坊", "Croissant Lab")],
    "cafe": [("梧桐咖啡", "Wutong Coffee"), ("拾光咖啡", "Shiguang Coffee"), ("弄堂咖啡馆", "Lane Café")],
    "noodles": [("老街面馆", "Old Street Noodles"), ("阿婆馄饨", "Granny's Wontons"), ("一碗小面", "One Bowl Noodles")],
    "bistro": [("巷子小馆", "Alley Bistro"), ("湖畔餐厅", "Lakeside Kitchen"), ("江南灶", "Jiangnan Stove")],
    "bar": [("夜航酒吧", "Night Flight Bar"), ("微醺小馆", "Tipsy Tavern")],
    "fine-dining": [("云栖私房菜", "Yunqi Private Kitchen"), ("雅集", "Yaji")],
    "leisure": [("桌游空间", "Board Game Room"), ("陶艺工坊", "Pottery Studio")],
}

HOURS = {
    "tea": "mon-sun 10:00-22:00",
    "bakery": "mon-sun 07:30-20:00",
    "cafe": "mon-fri 08:00-20:00\nsat-sun 09:00-21:00",
    "noodles": "mon-sun 06:30-14:00, 17:00-21:00",
    "bistro": "tue-sun 11:00-14:00, 17:00-22:00",
    "bar": "mon-thu 18:00-01:00\nfri-sat 18:00-03:00\nsun 18:00-00:00",
    "fine-dining": "wed-sun 17:30-22:30",
    "leisure": "mon-sun 12:00-23:00",
}

MERCHANTS_PER_CITY = {"shanghai": 21, "hangzhou": 17, "guangzhou": 17}


def _demo_uscc(n: int) -> str:
    from .validators import uscc_check_char

    body = f"91310000MA1D{n:05d}"
    return body + uscc_check_char(body)


def seed_merchants(out: list[tuple[str, str, str]]) -> None:
    """About 55 admitted merchants over the three cities (probation, listed and a few warned, suspended or
    removed), each with an owner; two shops get owner and staff logins. Idempotent."""
    import random
    from datetime import timedelta

    from django.utils import timezone

    from core.demo import demo_user

    from . import services
    from .models import Merchant, MerchantDay, MerchantStaff
    from .selectors import local_date

    for city in City.objects.all():
        for category in Category.objects.all():
            CityCategory.objects.get_or_create(
                city=city,
                category=category,
                defaults={"is_open": not (city.code == "guangzhou" and category.code == "fine-dining")},
            )

    rng = random.Random(20261123)
    categories = {c.code: c for c in Category.objects.all()}
    number = 0
    now = timezone.now()
    for city in City.objects.order_by("code"):
        districts = list(city.districts.order_by("code"))
        for i in range(MERCHANTS_PER_CITY.get(city.code, 0)):
            number += 1
            uscc = _demo_uscc(number)
            if Merchant.objects.filter(uscc=uscc).exists():
                continue
            code = list(SHOP_NAMES)[i % len(SHOP_NAMES)]
            category = categories[code]
            zh, en = SHOP_NAMES[code][(i // len(SHOP_NAMES)) % len(SHOP_NAMES[code])]
            district = districts[i % len(districts)]
            lat0, lng0 = DISTRICT_CENTRES.get(district.code, (float(city.center_lat), float(city.center_lng)))
            spend = rng.randint(category.spend_min_fen // 100, category.spend_max_fen // 100) * 100
            owner = demo_user(f"owner{number:02d}@redcard.local", display_name=f"{zh}老板")
            merchant = services.merchant_admit(
                city_id=city.pk,
                district_id=district.pk,
                category_id=category.pk,
                legal_name=f"{city.name_zh}{zh}餐饮管理有限公司"
                if category.is_food
                else f"{city.name_zh}{zh}文化有限公司",
                name_zh=f"{zh}·{district.name_zh.rstrip('区新')}店",
                name_en=f"{en} ({district.name_en})",
                uscc=uscc,
                food_licence=f"JY2{310000 + number:06d}{number:07d}" if category.is_food else "",
                address=f"{city.name_zh}{district.name_zh}{rng.choice(STREETS[city.code])}{rng.randint(1, 999)}号",
                lat=round(lat0 + rng.uniform(-0.012, 0.012), 6),
                lng=round(lng0 + rng.uniform(-0.012, 0.012), 6),
                average_spend_fen=spend,
                external_rating=Decimal(str(round(rng.uniform(4.5, 4.9), 1))),
                dine_in=True,
                opening_hours=HOURS[code],
                daily_capacity=rng.choice([30, 50, 80, 120]),
                rate_bp=rng.choice([1000, 1200, 1500, 2000]),
                cap_fen=rng.choice([None, 3000, 5000]),
                min_bill_fen=rng.choice([None, None, 2000]),
                notes_url="",
                owner=owner,
                actor="system:demo",
                reason="demo data",
                now=now - timedelta(days=rng.randint(1, 90)),
            )
            # Older merchants have finished probation; a few are in trouble.
            if merchant.probation_until and merchant.probation_until <= now:
                services.merchant_transition(merchant=merchant, target="listed", actor="system:demo", reason="demo")
            if number in (7, 29):
                services.merchant_transition(
                    merchant=merchant, target="warned", actor="system:demo", reason="投诉偏多（演示）"
                )
            if number == 41:
                services.merchant_transition(
                    merchant=merchant, target="suspended", actor="system:demo", reason="暂停（演示）"
                )
            if number == 50:
                services.merchant_transition(
                    merchant=merchant, target="removed", actor="system:demo", reason="停业（演示）"
                )
            if number in (2, 3):  # today: one shop full, one busy
                merchant.refresh_from_db()
                MerchantDay.objects.get_or_create(
                    merchant=merchant,
                    local_date=local_date(merchant=merchant, at=now),
                    defaults={
                        "redemptions_count": merchant.daily_capacity if number == 2 else merchant.daily_capacity - 3
                    },
                )

    # Logins for two shops: the owner and a counter staff member of each.
    for number, label in ((1, "shop 1"), (22, "shop 2")):
        staff = (
            MerchantStaff.objects.filter(merchant__uscc=_demo_uscc(number), role="owner")
            .select_related("merchant")
            .first()
        )
        if staff is None:
            continue
        counter = demo_user(f"staff{number:02d}@redcard.local", display_name=f"{staff.merchant.name_zh}店员")
        MerchantStaff.objects.get_or_create(merchant=staff.merchant, user=counter, defaults={"role": "staff"})
        out.append((f"merchant owner ({label}: {staff.merchant.name_zh})", staff.user.email, DEMO_PASSWORD))
        out.append((f"merchant staff ({label}: {staff.merchant.name_zh})", counter.email, DEMO_PASSWORD))
