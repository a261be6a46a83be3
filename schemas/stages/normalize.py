"""Parameters of the `normalize` stage (batch): text cleanup of message content, every change counted."""

from typing import Literal

from pydantic import Field

from schemas.base import StrictModel


class NormalizeParams(StrictModel):
    name: Literal["normalize"]
    fix_mojibake: bool = Field(
        True,
        description="repair text decoded with the wrong charset ('donâ€™t' -> 'don’t') with ftfy.fix_encoding, "
                    "which changes only text its detector judges garbled; samples of each repair are in the report",
    )
    unicode_form: Literal["NFC", "none"] = Field("NFC", description="Unicode normalization form ('none' = keep)")
    line_endings: bool = Field(True, description="CRLF, CR, NEL, U+2028/2029, VT and FF become LF")
    control_chars: bool = Field(True, description="remove control characters other than \\n and \\t "
                                                  "(NUL, ESC, DEL, C1 ...); lone surrogates become U+FFFD")
    trim: bool = Field(True, description="strip whitespace at the start and end of each text")
    blank_line_run: int | None = Field(
        3, ge=1,
        description="a run of at least this many blank (or whitespace-only) lines becomes one blank line; "
                    "null = keep",
    )
    samples: int = Field(10, ge=0, le=20, description="before/after samples kept in facts")
