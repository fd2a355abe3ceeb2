"""Deterministic synthetic people for the sandbox agencies: resident numbers, names and addresses.

Everything here is driven by a caller-supplied ``random.Random`` so that one seed always yields the same
population, byte for byte, on any machine: demos, tests and load runs can then quote concrete people.

The resident numbers carry a marker that makes them impossible for a living person: the 7th digit (the
century/sex code) is always 9 or 0, the code for people born in 1800–1899. The birth-date digits are still
the synthetic person's real 20th/21st-century birth date, so the numbers look and validate like real ones
except in that one digit, and any code path can tell with :func:`is_synthetic` that it holds fake data.
"""

from __future__ import annotations

import itertools
import random
import zlib
from dataclasses import dataclass
from datetime import date
from typing import Literal

Sex = Literal["M", "F"]

# 9 = male born 1800–1899, 0 = female born 1800–1899. Nobody with these codes is alive.
SYNTHETIC_CENTURY_CODES = frozenset("90")
_CODE_FOR_SEX: dict[str, str] = {"M": "9", "F": "0"}
_CHECK_WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)


# --- Resident registration numbers -----------------------------------------------------------------------


def normalize_resident_number(value: str) -> str:
    """Drop the optional hyphen; the database and the marker check work on the 13-digit form only."""
    value = value.strip()
    if len(value) == 14 and value[6] == "-":
        value = value[:6] + value[7:]
    return value


def format_resident_number(value: str) -> str:
    """Hyphenated ``YYMMDD-GSSSSSC`` form, the way people type it on the hub's forms."""
    digits = normalize_resident_number(value)
    return f"{digits[:6]}-{digits[6:]}"


def check_digit(first12: str) -> str:
    """The pre-2020 check digit, kept so that synthetic numbers pass the same shape checks as real ones."""
    if len(first12) != 12 or not first12.isascii() or not first12.isdigit():
        raise ValueError("check digit needs exactly 12 digits")
    total = sum(weight * int(digit) for weight, digit in zip(_CHECK_WEIGHTS, first12, strict=True))
    return str((11 - total % 11) % 10)


def has_valid_check_digit(value: str) -> bool:
    digits = normalize_resident_number(value)
    if len(digits) != 13 or not digits.isascii() or not digits.isdigit():
        return False
    return check_digit(digits[:12]) == digits[12]


def is_synthetic(resident_number: str) -> bool:
    """True when the number carries the 1800s marker, so it cannot identify a living person.

    Only the shape and the marker are checked: the marker alone is what guarantees the number is fake, and a
    guard that refuses real data must not be weakened by an unrelated checksum mistake.
    """
    digits = normalize_resident_number(resident_number)
    if len(digits) != 13 or not digits.isascii() or not digits.isdigit():
        return False
    return digits[6] in SYNTHETIC_CENTURY_CODES


def make_resident_number(rng: random.Random, birth_date: date, sex: Sex) -> str:
    """13 digits: the real birth date's YYMMDD, the 1800s marker, five random digits and the check digit.

    Feb 29 is refused because read with the 1800s century code the year may not be a leap year (1900 → 1800),
    and validators that check the date in its century would then reject the number.
    """
    if birth_date.month == 2 and birth_date.day == 29:
        raise ValueError("synthetic birth dates must not fall on Feb 29")
    first12 = f"{birth_date:%y%m%d}{_CODE_FOR_SEX[sex]}{rng.randrange(100_000):05d}"
    return first12 + check_digit(first12)


# --- Names -----------------------------------------------------------------------------------------------

# (hangul, hanja, passport spelling, share of the population in per mille). Passports overwhelmingly keep the
# traditional surname spellings (LEE, PARK, CHOI) rather than strict Revised Romanization (I, BAK, CHOE), and
# the English name is what banks match against, so the surnames use those.
_SURNAMES: tuple[tuple[str, str, str, int], ...] = (
    ("김", "金", "KIM", 215),
    ("이", "李", "LEE", 147),
    ("박", "朴", "PARK", 84),
    ("최", "崔", "CHOI", 47),
    ("정", "鄭", "JUNG", 43),
    ("강", "姜", "KANG", 23),
    ("조", "趙", "CHO", 21),
    ("윤", "尹", "YOON", 21),
    ("장", "張", "JANG", 20),
    ("임", "林", "LIM", 17),
    ("한", "韓", "HAN", 15),
    ("오", "吳", "OH", 15),
    ("서", "徐", "SEO", 15),
    ("신", "申", "SHIN", 14),
    ("권", "權", "KWON", 14),
    ("황", "黃", "HWANG", 14),
    ("안", "安", "AHN", 14),
    ("송", "宋", "SONG", 13),
    ("류", "柳", "RYU", 12),
    ("전", "全", "JEON", 11),
    ("홍", "洪", "HONG", 11),
    ("고", "高", "KO", 9),
    ("문", "文", "MOON", 9),
    ("양", "梁", "YANG", 9),
    ("손", "孫", "SON", 9),
    ("배", "裵", "BAE", 8),
    ("백", "白", "BAEK", 8),
    ("허", "許", "HEO", 6),
    ("남", "南", "NAM", 5),
    ("노", "盧", "NOH", 4),
)
SURNAMES: tuple[str, ...] = tuple(row[0] for row in _SURNAMES)
_SURNAME_CUM_WEIGHTS: tuple[int, ...] = tuple(itertools.accumulate(row[3] for row in _SURNAMES))
_SURNAME_HANJA: dict[str, str] = {row[0]: row[1] for row in _SURNAMES}
_SURNAME_ROMAN: dict[str, str] = {row[0]: row[2] for row in _SURNAMES}

# Revised Romanization and one common hanja for every given-name syllable used below. Names are romanized
# syllable by syllable without sound-change rules, as RR recommends for personal names.
_SYLLABLES: dict[str, tuple[str, str]] = {
    "가": ("GA", "佳"),
    "건": ("GEON", "建"),
    "경": ("GYEONG", "京"),
    "광": ("GWANG", "光"),
    "기": ("GI", "基"),
    "길": ("GIL", "吉"),
    "나": ("NA", "娜"),
    "다": ("DA", "多"),
    "대": ("DAE", "大"),
    "도": ("DO", "道"),
    "동": ("DONG", "東"),
    "린": ("RIN", "璘"),
    "말": ("MAL", "末"),
    "명": ("MYEONG", "明"),
    "미": ("MI", "美"),
    "민": ("MIN", "敏"),
    "병": ("BYEONG", "炳"),
    "빈": ("BIN", "彬"),
    "상": ("SANG", "相"),
    "서": ("SEO", "瑞"),
    "석": ("SEOK", "錫"),
    "선": ("SEON", "善"),
    "성": ("SEONG", "成"),
    "소": ("SO", "昭"),
    "수": ("SU", "秀"),
    "숙": ("SUK", "淑"),
    "순": ("SUN", "順"),
    "승": ("SEUNG", "承"),
    "시": ("SI", "時"),
    "아": ("A", "雅"),
    "연": ("YEON", "姸"),
    "영": ("YEONG", "英"),
    "예": ("YE", "藝"),
    "옥": ("OK", "玉"),
    "용": ("YONG", "龍"),
    "우": ("U", "宇"),
    "원": ("WON", "元"),
    "유": ("YU", "裕"),
    "윤": ("YUN", "潤"),
    "율": ("YUL", "律"),
    "은": ("EUN", "恩"),
    "이": ("I", "利"),
    "자": ("JA", "子"),
    "재": ("JAE", "在"),
    "정": ("JEONG", "貞"),
    "종": ("JONG", "鍾"),
    "주": ("JU", "周"),
    "준": ("JUN", "俊"),
    "지": ("JI", "智"),
    "진": ("JIN", "珍"),
    "창": ("CHANG", "昌"),
    "채": ("CHAE", "彩"),
    "철": ("CHEOL", "哲"),
    "춘": ("CHUN", "春"),
    "태": ("TAE", "泰"),
    "하": ("HA", "夏"),
    "현": ("HYEON", "賢"),
    "혜": ("HYE", "惠"),
    "호": ("HO", "浩"),
    "후": ("HU", "厚"),
    "훈": ("HUN", "勳"),
    "희": ("HUI", "姬"),
}

# Popular given names by birth cohort, so that grandparents, parents and children sound their age.
_GIVEN_NAMES: dict[tuple[str, Sex], tuple[str, ...]] = {
    ("old", "M"): (
        "영수",
        "영호",
        "영철",
        "정호",
        "성호",
        "상철",
        "광수",
        "동수",
        "종수",
        "재호",
        "용수",
        "진호",
        "명수",
        "병철",
        "성수",
        "기철",
        "정수",
        "순철",
        "영길",
        "창호",
    ),
    ("old", "F"): (
        "영자",
        "정숙",
        "순자",
        "영숙",
        "명숙",
        "경숙",
        "정희",
        "영희",
        "순희",
        "미경",
        "경자",
        "옥순",
        "정자",
        "춘자",
        "혜숙",
        "숙자",
        "말순",
        "영순",
        "미숙",
        "은숙",
    ),
    ("mid", "M"): (
        "성민",
        "지훈",
        "현우",
        "동현",
        "상훈",
        "성진",
        "준호",
        "민수",
        "정훈",
        "재훈",
        "성훈",
        "영진",
        "민철",
        "현석",
        "승현",
        "준영",
        "대현",
        "진우",
        "재현",
        "상우",
    ),
    ("mid", "F"): (
        "지영",
        "은정",
        "미영",
        "현정",
        "수진",
        "은영",
        "지현",
        "혜진",
        "정은",
        "선영",
        "미정",
        "은주",
        "유진",
        "민정",
        "소영",
        "지은",
        "현주",
        "혜정",
        "수정",
        "은희",
    ),
    ("new", "M"): (
        "민준",
        "서준",
        "도윤",
        "예준",
        "시우",
        "하준",
        "주원",
        "지호",
        "지후",
        "준우",
        "준서",
        "건우",
        "현준",
        "도현",
        "우진",
        "선우",
        "서진",
        "연우",
        "유준",
        "승우",
        "민재",
        "은우",
        "이준",
        "태윤",
        "지훈",
    ),
    ("new", "F"): (
        "서연",
        "서윤",
        "지우",
        "서현",
        "민서",
        "하은",
        "하윤",
        "윤서",
        "지유",
        "지민",
        "채원",
        "수아",
        "지아",
        "지윤",
        "다은",
        "은서",
        "예은",
        "수빈",
        "소율",
        "예린",
        "하린",
        "시은",
        "유나",
        "가은",
        "아린",
    ),
}


def _cohort(birth_year: int) -> str:
    if birth_year < 1970:
        return "old"
    if birth_year < 1990:
        return "mid"
    return "new"


@dataclass(frozen=True, slots=True)
class KoreanName:
    surname: str
    given: str
    name_ko: str
    name_hanja: str | None
    name_en: str


def pick_surname(rng: random.Random) -> str:
    """A surname drawn with its real share of the population, so a sample looks like a Korean one."""
    return rng.choices(SURNAMES, cum_weights=_SURNAME_CUM_WEIGHTS)[0]


def romanize_given_name(given: str) -> str:
    return "".join(_SYLLABLES[syllable][0] for syllable in given)


def make_name(rng: random.Random, sex: Sex, birth_year: int, surname: str | None = None) -> KoreanName:
    """A name fitting the person's sex and generation; ``surname`` lets children carry their father's.

    Hanja is optional as on real registers: nearly all older people have it, many younger ones do not.
    """
    family = surname if surname is not None else pick_surname(rng)
    given = rng.choice(_GIVEN_NAMES[(_cohort(birth_year), sex)])
    hanja_share = 0.95 if birth_year < 1990 else 0.6
    name_hanja = None
    if rng.random() < hanja_share:
        name_hanja = _SURNAME_HANJA[family] + "".join(_SYLLABLES[syllable][1] for syllable in given)
    return KoreanName(
        surname=family,
        given=given,
        name_ko=family + given,
        name_hanja=name_hanja,
        name_en=f"{_SURNAME_ROMAN[family]} {romanize_given_name(given)}",
    )


# --- Addresses -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _District:
    sido: str
    sigungu: str  # empty for 세종, which has no 시/군/구 level
    postal_low: int
    postal_high: int
    roads: tuple[str, ...]
    weight: int


# Real districts, real road names and the postal-code band each district uses. Building numbers are random, so
# an address may not exist; that is fine for a sandbox and keeps it from pointing at someone's home.
_DISTRICTS: tuple[_District, ...] = (
    _District("서울특별시", "종로구", 3000, 3199, ("종로", "율곡로", "자하문로", "창경궁로"), 3),
    _District("서울특별시", "마포구", 3900, 4199, ("월드컵로", "마포대로", "양화로", "독막로"), 6),
    _District("서울특별시", "서초구", 6500, 6799, ("서초대로", "반포대로", "방배로", "사평대로"), 7),
    _District("서울특별시", "강남구", 6000, 6399, ("테헤란로", "도산대로", "언주로", "선릉로"), 8),
    _District("서울특별시", "송파구", 5500, 5899, ("올림픽로", "송파대로", "위례성대로", "가락로"), 9),
    _District("서울특별시", "노원구", 1600, 1899, ("동일로", "노해로", "상계로", "한글비석로"), 7),
    _District("서울특별시", "관악구", 8700, 8899, ("관악로", "남부순환로", "봉천로", "신림로"), 7),
    _District("부산광역시", "해운대구", 48000, 48199, ("해운대로", "센텀중앙로", "좌동순환로", "우동1로"), 5),
    _District("부산광역시", "부산진구", 47100, 47399, ("중앙대로", "가야대로", "새싹로", "동평로"), 4),
    _District("대구광역시", "수성구", 42000, 42299, ("달구벌대로", "동대구로", "범어로", "들안로"), 5),
    _District("인천광역시", "연수구", 21900, 22099, ("송도과학로", "원인재로", "해돋이로", "먼우금로"), 5),
    _District("광주광역시", "북구", 61000, 61299, ("설죽로", "우치로", "서암대로", "하서로"), 4),
    _District("대전광역시", "유성구", 34000, 34299, ("대학로", "유성대로", "계룡로", "엑스포로"), 4),
    _District("울산광역시", "남구", 44600, 44799, ("삼산로", "번영로", "돋질로", "문수로"), 3),
    _District("세종특별자치시", "", 30000, 30199, ("한누리대로", "도움1로", "갈매로", "보듬3로"), 3),
    _District("경기도", "수원시 영통구", 16400, 16599, ("광교중앙로", "봉영로", "영통로", "매영로"), 6),
    _District("경기도", "성남시 분당구", 13400, 13699, ("판교역로", "분당로", "불정로", "황새울로"), 6),
    _District("경기도", "고양시 일산동구", 10200, 10499, ("중앙로", "일산로", "호수로", "정발산로"), 5),
    _District("경기도", "용인시 수지구", 16800, 16999, ("수지로", "포은대로", "풍덕천로", "신봉2로"), 5),
    _District("강원특별자치도", "춘천시", 24200, 24499, ("중앙로", "후석로", "퇴계로", "공지로"), 2),
    _District("충청북도", "청주시 상당구", 28700, 28899, ("상당로", "대성로", "용암로", "남일로"), 3),
    _District("전북특별자치도", "전주시 완산구", 54900, 55099, ("팔달로", "효자로", "홍산로", "서원로"), 3),
    _District("경상남도", "창원시 성산구", 51400, 51599, ("중앙대로", "창원대로", "원이대로", "용지로"), 3),
    _District("제주특별자치도", "제주시", 63000, 63399, ("연북로", "노형로", "중앙로", "일주동로"), 2),
)
_DISTRICT_CUM_WEIGHTS: tuple[int, ...] = tuple(itertools.accumulate(d.weight for d in _DISTRICTS))


@dataclass(frozen=True, slots=True)
class Address:
    full: str
    postal_code: str


def make_address(rng: random.Random) -> Address:
    """A road-name address (도로명주소), an apartment unit about two times in three, as in Korean cities.

    The postal code is derived from the building, not drawn, so one building always has one postal code.
    """
    district = rng.choices(_DISTRICTS, cum_weights=_DISTRICT_CUM_WEIGHTS)[0]
    road = rng.choice(district.roads)
    building = str(rng.randint(1, 400))
    apartment = rng.random() < 0.65
    if not apartment and rng.random() < 0.4:
        building += f"-{rng.randint(1, 30)}"
    region = f"{district.sido} {district.sigungu}" if district.sigungu else district.sido
    street = f"{region} {road} {building}"
    span = district.postal_high - district.postal_low + 1
    postal = district.postal_low + zlib.crc32(street.encode()) % span
    if apartment:
        floor = rng.randint(1, 25)
        street += f", {rng.randint(101, 115)}동 {floor * 100 + rng.randint(1, 4)}호"
    return Address(full=street, postal_code=f"{postal:05d}")
