"""Date and time formats of the two languages (``FORMAT_MODULE_PATH``): a 24-hour clock everywhere.

Only what differs from Django's own catalogue is set here; the rest falls through to Django's modules.
"""
