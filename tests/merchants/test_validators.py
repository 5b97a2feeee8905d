from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from merchants.validators import (
    OpeningHoursError,
    check_coordinates,
    check_food_licence,
    check_offer_rate,
    check_uscc,
    is_open_at,
    parse_opening_hours,
    uscc_check_char,
)
from tests.factories.merchants import valid_uscc

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_published_credit_code_passes_its_check_digit():
    assert check_uscc("91350100M000100Y43") is None
    assert check_uscc(" 91350100m000100y43 ") is None  # typed in lower case with spaces


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("91350100M000100Y4", "uscc_length"),
        ("91350100M000100Y433", "uscc_length"),
        ("", "uscc_length"),
        ("91350100M000100I43", "uscc_characters"),  # I is not in the alphabet
        ("91350100M00010OY43", "uscc_characters"),  # nor O
        ("9135010-M000100Y43", "uscc_characters"),
        ("91350100M000100Y44", "uscc_check_digit"),
        ("91350100M000100Y4A", "uscc_check_digit"),
    ],
)
def test_bad_credit_codes_are_refused_with_their_own_code(value, code):
    problem = check_uscc(value)
    assert problem is not None and problem.code == code
    assert str(problem.message)


def test_check_character_maps_31_to_zero():
    for n in range(200):
        code = valid_uscc(n)
        assert check_uscc(code) is None
        assert uscc_check_char(code[:17]) == code[17]


def test_food_licence_format():
    assert check_food_licence("JY13101060000123", required=True) is None
    assert check_food_licence("", required=True).code == "food_licence_required"
    assert check_food_licence("", required=False) is None
    assert check_food_licence("JY4310106000012", required=True).code == "food_licence_invalid"
    assert check_food_licence("SP13101060000123", required=True).code == "food_licence_invalid"


def test_offer_rate_below_ten_percent_is_refused():
    assert check_offer_rate(999).code == "offer_rate_too_low"
    assert check_offer_rate(1000) is None
    assert check_offer_rate(9500).code == "offer_rate_too_high"


def test_coordinates_outside_the_city_are_refused(db):
    from tests.factories import CityFactory

    city = CityFactory()
    assert check_coordinates(lat=31.22, lng=121.45, city=city) is None
    far = check_coordinates(lat=30.27, lng=120.15, city=city)  # Hangzhou, ~165 km away
    assert far.code == "coordinates_outside_city"
    assert check_coordinates(lat=95, lng=0, city=city).code == "coordinates_invalid"


def test_opening_hours_text_and_dict_forms_normalise_alike():
    text = parse_opening_hours("Mon-Fri 09:00-14:00, 17:00-22:00\nsat 10:00-02:00\nsun closed")
    assert text["mon"] == ["09:00-14:00", "17:00-22:00"]
    assert text["fri"] == text["mon"]
    assert text["sat"] == ["10:00-02:00"]
    assert "sun" not in text
    assert parse_opening_hours({"sat": ["10:00-02:00"], "mon": ["17:00-22:00", "09:00-14:00"]}) == {
        "mon": ["09:00-14:00", "17:00-22:00"],
        "sat": ["10:00-02:00"],
    }


@pytest.mark.parametrize(
    "value",
    [
        "always open",
        "mon 9-5",
        "mon 25:00-26:00",
        "mon 09:00-09:00",
        "mon 09:00-14:00, 13:00-18:00",  # overlapping
        "funday 09:00-10:00",
        {"mon": "09:00-10:00"},
        {"xyz": ["09:00-10:00"]},
        "",
        42,
    ],
)
def test_opening_hours_that_do_not_parse_are_refused(value):
    with pytest.raises(OpeningHoursError) as info:
        parse_opening_hours(value)
    assert info.value.problem.code == "opening_hours_invalid"


def test_overnight_hours_are_open_after_midnight_of_the_next_day():
    hours = parse_opening_hours("sat 18:00-02:00\nsun 18:00-02:00")
    assert is_open_at(hours, datetime(2026, 11, 28, 23, 0, tzinfo=SHANGHAI))  # Saturday night
    assert is_open_at(hours, datetime(2026, 11, 29, 1, 30, tzinfo=SHANGHAI))  # early Sunday
    assert not is_open_at(hours, datetime(2026, 11, 29, 3, 0, tzinfo=SHANGHAI))
    assert is_open_at(hours, datetime(2026, 11, 30, 1, 0, tzinfo=SHANGHAI))  # Monday 01:00 from Sunday
    assert not is_open_at(hours, datetime(2026, 11, 30, 12, 0, tzinfo=SHANGHAI))
