import random
import re
from datetime import date, timedelta

import pytest

from adapters.sandbox.synthetic import (
    SURNAMES,
    SYNTHETIC_CENTURY_CODES,
    check_digit,
    format_resident_number,
    has_valid_check_digit,
    is_synthetic,
    make_address,
    make_name,
    make_resident_number,
)
from hub.resident_number import normalize


def _random_birth(rng: random.Random) -> date:
    day = date(1925, 1, 1) + timedelta(days=rng.randrange(365 * 100))
    return day - timedelta(days=1) if (day.month, day.day) == (2, 29) else day


def test_every_generated_number_carries_the_marker_a_valid_birth_date_and_check_digit():
    rng = random.Random(7)
    for _ in range(5_000):
        birth = _random_birth(rng)
        sex = rng.choice(("M", "F"))
        number = make_resident_number(rng, birth, sex)

        assert len(number) == 13 and number.isdigit()
        assert is_synthetic(number)
        assert number[6] == ("9" if sex == "M" else "0")
        assert number[:6] == birth.strftime("%y%m%d")
        # Read in the marker's own century (1800s), the date must still exist.
        date(1800 + int(number[:2]), int(number[2:4]), int(number[4:6]))
        assert number[12] == check_digit(number[:12])
        assert has_valid_check_digit(number)


def test_generated_numbers_pass_the_hubs_own_validation():
    rng = random.Random(11)
    for _ in range(1_000):
        number = make_resident_number(rng, _random_birth(rng), rng.choice(("M", "F")))
        assert normalize(format_resident_number(number)) == number


def test_feb_29_birthdays_are_refused_because_1800s_years_may_not_be_leap():
    with pytest.raises(ValueError):
        make_resident_number(random.Random(1), date(2000, 2, 29), "F")


def test_check_digit_uses_the_old_weighted_mod_11_rule():
    # 9*2 + 0*3 + 0*4 + 1*5 + 0*6 + 1*7 + 1*8 + 2*9 + 3*2 + 4*3 + 5*4 + 6*5 = 124; (11 - 124 % 11) % 10 = 8
    assert check_digit("900101123456") == "8"
    assert not has_valid_check_digit("9001011234567")
    assert has_valid_check_digit("900101-1234568")


def test_is_synthetic_rejects_ordinary_and_malformed_numbers():
    assert SYNTHETIC_CENTURY_CODES == frozenset("90")
    ordinary = ("900101-1234567", "9001011234567", "000101-3234567", "851231-2345678", "990101-5123456")
    malformed = ("", "abc", "900101-923456", "90010109234567", "900101+9234567", "９００１０１９２３４５６７")
    for value in ordinary + malformed:
        assert not is_synthetic(value), value


def test_is_synthetic_accepts_marked_numbers_with_or_without_hyphen():
    assert is_synthetic("900101-9234567")
    assert is_synthetic("9001010234567")
    assert is_synthetic(" 900101-0234567 ")


def test_same_seed_gives_the_same_people():
    def people(seed: int) -> list[object]:
        rng = random.Random(seed)
        out: list[object] = []
        for _ in range(200):
            out.append(make_resident_number(rng, _random_birth(rng), "M"))
            out.append(make_name(rng, "F", 1990))
            out.append(make_address(rng))
        return out

    assert people(3) == people(3)
    assert people(3) != people(4)


def test_names_are_korean_with_optional_hanja_and_romanized_english():
    rng = random.Random(5)
    surnames: list[str] = []
    with_hanja = 0
    for i in range(3_000):
        name = make_name(rng, "M" if i % 2 else "F", 1950 + i % 70)
        surnames.append(name.surname)
        assert name.name_ko == name.surname + name.given
        assert re.fullmatch(r"[가-힣]{3}", name.name_ko)
        assert re.fullmatch(r"[A-Z]+ [A-Z]+", name.name_en), name.name_en
        if name.name_hanja is not None:
            with_hanja += 1
            assert len(name.name_hanja) == len(name.name_ko)
            assert not re.search(r"[가-힣A-Za-z]", name.name_hanja)
    assert set(surnames) <= set(SURNAMES)
    counts = {s: surnames.count(s) for s in set(surnames)}
    assert max(counts, key=lambda s: counts[s]) == "김"
    assert counts["김"] > counts["이"] > counts["최"]
    assert 0 < with_hanja < 3_000


def test_names_keep_a_requested_surname_and_romanize_it_as_on_passports():
    name = make_name(random.Random(1), "M", 2020, surname="이")
    assert name.name_ko.startswith("이")
    assert name.name_en.startswith("LEE ")
    assert make_name(random.Random(2), "F", 2020, surname="박").name_en.startswith("PARK ")


def test_names_fit_the_generation_they_were_born_in():
    rng = random.Random(9)
    old = {make_name(rng, "F", 1945).given for _ in range(300)}
    young = {make_name(rng, "F", 2015).given for _ in range(300)}
    assert old.isdisjoint(young)


def test_addresses_are_road_name_addresses_with_five_digit_postal_codes():
    pattern = re.compile(
        r"(?P<building>[가-힣]+(?: [가-힣]+){0,3} [가-힣0-9]+(?:로|길|대로) \d+(?:-\d+)?)"
        r"(?:, 1[01]\d동 \d{3,4}호)?"
    )
    rng = random.Random(13)
    postal_by_building: dict[str, str] = {}
    apartments = 0
    for _ in range(3_000):
        address = make_address(rng)
        match = pattern.fullmatch(address.full)
        assert match, address.full
        assert re.fullmatch(r"\d{5}", address.postal_code)
        apartments += "동 " in address.full
        building = match.group("building")
        assert postal_by_building.setdefault(building, address.postal_code) == address.postal_code
    assert 0.5 < apartments / 3_000 < 0.8


def test_addresses_name_real_provinces_and_districts():
    rng = random.Random(17)
    fulls = [make_address(rng).full for _ in range(2_000)]
    assert any(f.startswith("서울특별시 서초구 ") for f in fulls)
    assert any(f.startswith("세종특별자치시 ") for f in fulls)
    assert any(f.startswith("경기도 성남시 분당구 ") for f in fulls)
