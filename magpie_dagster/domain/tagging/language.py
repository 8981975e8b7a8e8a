"""The language of an instruction (ISO 639-1), offline, with lingua.

Among all 75 languages lingua mistakes short English for Polish or Esperanto ("Plan a trip to Rome." -> eo), so
the default candidates are 30 widely used languages; a catalogue can widen them (`all`) or narrow them. The
detector is built once per candidate set and reused.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

LANGUAGE_DETECTOR = "lingua-language-detector"
UNDETERMINED = "und"  # ISO 639-2 code for text in no detectable language (emoji, numbers, code only)
ALL_LANGUAGES = "all"
# fmt: off
DEFAULT_CANDIDATES = (
    "en", "zh", "es", "fr", "de", "ja", "ko", "ru", "pt", "it", "ar", "hi", "tr", "vi", "id", "nl", "pl",
    "sv", "uk", "fa", "th", "he", "cs", "ro", "el", "hu", "da", "fi", "nb", "bn",
)
# fmt: on


def unknown_language_codes(codes: Sequence[str]) -> list[str]:
    from lingua import IsoCode639_1

    return [code for code in codes if code != ALL_LANGUAGES and not hasattr(IsoCode639_1, code.upper())]


@lru_cache(maxsize=4)
def _detector(candidates: tuple[str, ...]):
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    if ALL_LANGUAGES in candidates:
        builder = LanguageDetectorBuilder.from_all_languages()
    else:
        languages = [Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())) for code in candidates]
        builder = LanguageDetectorBuilder.from_languages(*languages)
    return builder.build()


def detect_languages(texts: list[str], candidates: tuple[str, ...] = DEFAULT_CANDIDATES) -> list[str]:
    """Lowercase ISO 639-1 codes (e.g. 'en', 'es', 'zh'), or 'und' when nothing is detectable."""
    detector = _detector(tuple(candidates))
    return [
        language.iso_code_639_1.name.lower() if language is not None else UNDETERMINED
        for language in detector.detect_languages_in_parallel_of(texts)
    ]
