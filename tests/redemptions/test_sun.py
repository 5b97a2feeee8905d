"""NTAG 424 DNA SUN verification against NXP AN12196's example (factory keys)."""

from __future__ import annotations

import pytest

from core.errors import DomainError
from redemptions.counter import sun

ZERO_KEY = bytes(16)
PICC = "EF963FF7828658A599F3041510671E88"
CMAC = "94EED9EE65337086"


def test_an12196_vector_decrypts_to_uid_and_counter():
    reading = sun.decrypt_picc_data(PICC, ZERO_KEY)
    assert reading.uid_hex == "04DE5F1EACC040"
    assert reading.counter == 61


def test_an12196_vector_mac_matches():
    reading = sun.verify(
        picc_data_hex=PICC, cmac_hex=CMAC, meta_read_key=ZERO_KEY, file_read_key=ZERO_KEY, last_counter=60
    )
    assert (reading.uid_hex, reading.counter) == ("04DE5F1EACC040", 61)
    assert sun.sdm_mac(ZERO_KEY, reading).hex().upper() == CMAC


def test_mac_that_does_not_match_is_refused():
    tampered = CMAC[:-1] + ("7" if CMAC[-1] != "7" else "8")
    with pytest.raises(DomainError) as refused:
        sun.verify(
            picc_data_hex=PICC, cmac_hex=tampered, meta_read_key=ZERO_KEY, file_read_key=ZERO_KEY, last_counter=None
        )
    assert refused.value.code == "tag_invalid"
    assert refused.value.params["reason"] == "mac_mismatch"


def test_wrong_file_read_key_is_refused():
    with pytest.raises(DomainError) as refused:
        sun.verify(
            picc_data_hex=PICC, cmac_hex=CMAC, meta_read_key=ZERO_KEY, file_read_key=b"\x01" * 16, last_counter=None
        )
    assert refused.value.code == "tag_invalid"


def test_unexpected_picc_data_tag_is_refused():
    # Decrypting with another meta key yields garbage whose first byte is not C7.
    with pytest.raises(DomainError) as refused:
        sun.decrypt_picc_data(PICC, b"\x02" * 16)
    assert refused.value.code == "tag_invalid"
    assert refused.value.params["reason"] == "unexpected_tag"


@pytest.mark.parametrize("last_counter", [61, 62, 1000])
def test_counter_not_above_the_last_accepted_is_refused(last_counter):
    with pytest.raises(DomainError) as refused:
        sun.verify(
            picc_data_hex=PICC, cmac_hex=CMAC, meta_read_key=ZERO_KEY, file_read_key=ZERO_KEY, last_counter=last_counter
        )
    assert refused.value.code == "tag_replayed"


@pytest.mark.parametrize("picc", ["", "zz" * 16, "EF96"])
def test_malformed_picc_data_is_refused(picc):
    with pytest.raises(DomainError) as refused:
        sun.verify(picc_data_hex=picc, cmac_hex=CMAC, meta_read_key=ZERO_KEY, file_read_key=ZERO_KEY, last_counter=None)
    assert refused.value.code == "tag_invalid"
