"""English pages write dates the ISO way and use a 24-hour clock (Django's default is "Dec. 3, 2026, 5:58 p.m.")."""

DATE_FORMAT = "Y-m-d"  # 2026-12-03
TIME_FORMAT = "H:i"  # 23:30
DATETIME_FORMAT = "Y-m-d H:i"  # 2026-12-03 23:30
YEAR_MONTH_FORMAT = "Y-m"  # 2026-12
MONTH_DAY_FORMAT = "m-d"  # 12-03
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "m-d H:i"  # 12-03 23:30: rows of a list within the year
FIRST_DAY_OF_WEEK = 1  # Monday, as the product's weeks
