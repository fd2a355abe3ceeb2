"""The language a field value is read in, decided by the script of its letters.

PDF/UA-1 (ISO 14289-1, 7.2) wants every piece of natural-language text tagged with its language, so that a
screen reader picks the right voice. The labels of an e-document are in Korean and the resident's language,
but its values are Korean register data: a name (박유나, or in hanja 朴有那), an address, a reason for moving.
Tagged in the document's language they would be read by a Thai or Vietnamese voice. The values carry no
language of their own, so it is read off their characters: Hangul and the Han characters of Korean data are
Korean, kana is Japanese, Thai script is Thai. Latin letters say nothing certain (a romanised Korean name, a
code, "M" or "F") and digits, dates and punctuation have no language: those keep the document's, rather
than a guess.
"""

from __future__ import annotations

# (first, last) code points of each script, inclusive
HANGUL: tuple[tuple[int, int], ...] = (
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x3130, 0x318F),  # Hangul Compatibility Jamo
    (0xA960, 0xA97F),  # Hangul Jamo Extended-A
    (0xAC00, 0xD7AF),  # Hangul Syllables
    (0xD7B0, 0xD7FF),  # Hangul Jamo Extended-B
    (0xFFA0, 0xFFDC),  # half-width Hangul
)
KANA: tuple[tuple[int, int], ...] = (
    (0x3040, 0x309F),  # Hiragana
    (0x30A0, 0x30FF),  # Katakana (its prolonged sound mark ー included)
    (0x31F0, 0x31FF),  # Katakana Phonetic Extensions
    (0xFF66, 0xFF9F),  # half-width Katakana
    (0x1B000, 0x1B16F),  # Kana Supplement and Extended-A, small kana
)
THAI: tuple[tuple[int, int], ...] = ((0x0E00, 0x0E7F),)
HAN: tuple[tuple[int, int], ...] = (
    (0x3400, 0x4DBF),  # CJK Unified Ideographs Extension A
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs
    (0xF900, 0xFAFF),  # CJK Compatibility Ideographs (Korean readings of hanja among them)
    (0x20000, 0x3134F),  # Extensions B to H, compatibility supplement
)
# Tried in this order: the first script with a letter in the value names its language. Hangul first, since
# the values are Korean data (a Korean address with a Latin building name is Korean); kana before Han, since
# Han with kana is Japanese; Han alone in Korean data is hanja, read in Korean.
SCRIPTS: tuple[tuple[str, tuple[tuple[int, int], ...]], ...] = (
    ("ko", HANGUL),
    ("ja", KANA),
    ("th", THAI),
    ("ko", HAN),
)


def _in(code: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(first <= code <= last for first, last in ranges)


def script_language(text: str) -> str | None:
    """The language of the letters of ``text`` (a value of Korean data), or None when they name none.

    None (Latin only, digits, dates, codes, punctuation, an empty value) means the text is read in the
    language around it, the document's; the caller does not tag it. Mixed scripts get the language of the
    first script in :data:`SCRIPTS` that occurs: Hangul wins.
    """
    # Letters only: a symbol inside a script's block (the baht sign ฿, the katakana middle dot ・ that Korean
    # also writes) names no language; ASCII letters are Latin, which names none either.
    codes = [ord(ch) for ch in text if ch.isalpha() and not ch.isascii()]
    for lang, ranges in SCRIPTS:
        if any(_in(code, ranges) for code in codes):
            return lang
    return None
