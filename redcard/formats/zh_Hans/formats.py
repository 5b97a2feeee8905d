"""Chinese pages write dates as people in China do: 2026年12月3日 in full, 12-03 in a list row; 24-hour clock.

DATE_FORMAT, TIME_FORMAT and DATETIME_FORMAT are Django's own zh_Hans ones (2026年12月3日 23:30).
"""

SHORT_DATETIME_FORMAT = "m-d H:i"  # 12-03 23:30: rows of a list within the year
