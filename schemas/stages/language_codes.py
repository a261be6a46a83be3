"""Language codes the `language` stage accepts: ISO 639-1 and ISO 639-3, the varieties folded into a
macro-language (`fold`), and py3langid's candidate languages.

A code is written as its ISO 639-1 code when it has one ("deu" and "de" are both "de") and as its ISO 639-3
code otherwise ("wuu"). A three-letter code is accepted only if some detector can answer it (it has an
ISO 639-1 code, is a py3langid class or a folded variety): one no backend can report would silently match
nothing. Two-letter codes are taken as written, as before.
"""

from __future__ import annotations

# ISO 639-1 -> ISO 639-3 (all 184 two-letter codes), from the ISO 639-3 registry as shipped in Debian's
# iso-codes 4.15 (/usr/share/iso-codes/json/iso_639-3.json, the entries with an alpha_2).
_ISO_639_1_TO_3_TEXT = (
    "aa:aar ab:abk ae:ave af:afr ak:aka am:amh an:arg ar:ara as:asm av:ava ay:aym az:aze ba:bak be:bel bg:bul "
    "bi:bis bm:bam bn:ben bo:bod br:bre bs:bos ca:cat ce:che ch:cha co:cos cr:cre cs:ces cu:chu cv:chv cy:cym "
    "da:dan de:deu dv:div dz:dzo ee:ewe el:ell en:eng eo:epo es:spa et:est eu:eus fa:fas ff:ful fi:fin fj:fij "
    "fo:fao fr:fra fy:fry ga:gle gd:gla gl:glg gn:grn gu:guj gv:glv ha:hau he:heb hi:hin ho:hmo hr:hrv ht:hat "
    "hu:hun hy:hye hz:her ia:ina id:ind ie:ile ig:ibo ii:iii ik:ipk io:ido is:isl it:ita iu:iku ja:jpn jv:jav "
    "ka:kat kg:kon ki:kik kj:kua kk:kaz kl:kal km:khm kn:kan ko:kor kr:kau ks:kas ku:kur kv:kom kw:cor ky:kir "
    "la:lat lb:ltz lg:lug li:lim ln:lin lo:lao lt:lit lu:lub lv:lav mg:mlg mh:mah mi:mri mk:mkd ml:mal mn:mon "
    "mr:mar ms:msa mt:mlt my:mya na:nau nb:nob nd:nde ne:nep ng:ndo nl:nld nn:nno no:nor nr:nbl nv:nav ny:nya "
    "oc:oci oj:oji om:orm or:ori os:oss pa:pan pi:pli pl:pol ps:pus pt:por qu:que rm:roh rn:run ro:ron ru:rus "
    "rw:kin sa:san sc:srd sd:snd se:sme sg:sag sh:hbs si:sin sk:slk sl:slv sm:smo sn:sna so:som sq:sqi sr:srp "
    "ss:ssw st:sot su:sun sv:swe sw:swa ta:tam te:tel tg:tgk th:tha ti:tir tk:tuk tl:tgl tn:tsn to:ton tr:tur "
    "ts:tso tt:tat tw:twi ty:tah ug:uig uk:ukr ur:urd uz:uzb ve:ven vi:vie vo:vol wa:wln wo:wol xh:xho yi:yid "
    "yo:yor za:zha zh:zho zu:zul")
ISO_639_1_TO_3 = dict(pair.split(":") for pair in _ISO_639_1_TO_3_TEXT.split())
ISO_639_3_TO_1 = {three: two for two, three in ISO_639_1_TO_3.items()}

# py3langid 0.4's two-letter language codes (tests/test_batched_langid.py checks them against its model)
_PY3LANGID_CODES_TEXT = (
    "af am an ar as az ba be bg bn br bs ca cs cy da de dz el en eo es et eu fa fi fo fr fy ga gd gl gu ha he "
    "hi hr ht hu hy id ig is it ja jv ka kk km kn ko ku ky la lb lg ln lo lt lv mg mk ml mn mr ms mt my ne nl nn "
    "no oc om or pa pl ps pt qu ro ru rw sa se si sk sl sn so sq sr st sv sw ta te tg th tk tl tr tt ug uk ur uz "
    "vi vo wa xh yo zh zu")
PY3LANGID_CODES = frozenset(_PY3LANGID_CODES_TEXT.split())
# and its other classes (ISO 639-3 codes, zxx = no linguistic content); also checked against the model
_PY3LANGID_OTHER_CODES_TEXT = "ace ary arz bcl crh ext fuv gcf gcr gom grc gug guw hbo kab kik lij ltg nso pcm sdh uzs vec wuu yue zxx"
PY3LANGID_OTHER_CODES = frozenset(_PY3LANGID_OTHER_CODES_TEXT.split())

# Varieties folded into the language users mean by default: the individual languages of the ISO 639-3
# macro-languages zh (Chinese), ar (Arabic) and ms (Malay), per SIL's macro-language mappings
# (iso639-3.sil.org/code_tables/macrolanguage_mappings), the ones any backend here can report plus the
# common ones a config may name. A detector's answer in a group counts as the group (probabilities summed).
DEFAULT_FOLD: dict[str, list[str]] = {
    "zh": ["cmn", "wuu", "yue", "hak", "nan", "gan", "hsn", "cdo", "cjy", "cpx", "czh", "czo", "mnp", "lzh"],
    "ar": ["arb", "arz", "ary", "arq", "apc", "ajp", "acm", "aeb", "afb", "ars", "ayl", "apd"],
    "ms": ["zsm", "zlm"],
}

# The languages py3langid answers by default (`languages: null`): those with an ISO 639-1 code, the
# varieties folded into one (wuu, yue, ary, arz) and zxx. Never answered by default: regional languages and
# pidgins with no ISO 639-1 code that short texts of a major neighbour are mistaken for (pcm for English,
# vec and lij for Italian, ext for Spanish, ...; measured in bench/bench_language.py). `languages: all`
# answers them too.
DEFAULT_PY3LANGID_CANDIDATES = tuple(sorted(
    PY3LANGID_CODES | {c for c in PY3LANGID_OTHER_CODES if any(c in m for m in DEFAULT_FOLD.values())} | {"zxx"}))


def canonical(code: str) -> str | None:
    """The stage's spelling of an ISO 639-1 or 639-3 code (lower-cased, 639-1 when it has one), else None."""
    code = code.strip().lower()
    if not (code.isascii() and code.isalpha() and len(code) in (2, 3)):
        return None
    return ISO_639_3_TO_1.get(code, code)


def detectable(code: str, fold: dict[str, list[str]]) -> bool:
    """Whether `code` (canonical) may be named: any two-letter code (taken as written, as chatprep always
    did), or a three-letter one some backend can report, directly or through `fold`."""
    return (len(code) == 2 or code in PY3LANGID_OTHER_CODES
            or code in fold or any(code in members for members in fold.values()))
