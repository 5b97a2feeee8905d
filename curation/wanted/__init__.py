"""Shops members ask for: nominations merged per shop, demand, the curators' recruitment queue, the invite to
apply, and the members told when the shop is listed (issue 16)."""
