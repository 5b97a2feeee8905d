"""Intake: a merchant owner's application, the admission rules that check it, the curators' review, site
visits and the decision (approval creates the merchant through ``merchants.services``)."""
