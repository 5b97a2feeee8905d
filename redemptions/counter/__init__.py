"""At the counter: member codes and NFC tags (``codes``, ``sun``), prepare/confirm/void, tap-to-claim and surge flags.

``services`` writes, ``selectors`` reads, ``api``/``views`` are the thin HTTP layer, ``errors`` registers the
counter's refusal codes.
"""
