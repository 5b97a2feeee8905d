"""Demo reference data: three cities (2,000 seats in all), their districts and categories."""

from __future__ import annotations

from .models import Category, City, District

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
