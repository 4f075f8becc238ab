"""Masking of reporters' personal data for screens visitors can see (the wall)."""

from __future__ import annotations

import re
from typing import Any

_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{6}(?:19|20)\d{2}[01]\d[0-3]\d\d{3}[0-9Xx](?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)0\d{2,3}-?\d{7,8}(?!\d)")
_DIGIT_RUN = re.compile(r"\d{4}")


def mask_name(name: str) -> str:
    """张三丰 -> 张**; a one-character name becomes *."""
    name = name.strip()
    if not name:
        return ""
    return name[0] + "*" * max(1, len(name) - 1) if len(name) > 1 else "*"


def mask_phone(phone: str) -> str:
    """13812345678 -> 138****5678; other lengths keep their first two and last two digits."""
    digits = phone.strip()
    if len(digits) == 11:
        return digits[:3] + "****" + digits[-4:]
    if len(digits) > 4:
        return digits[:2] + "*" * (len(digits) - 4) + digits[-2:]
    return "*" * len(digits)


def mask_id_number(id_number: str) -> str:
    """330212199001011234 -> 3302**********1234 (region prefix and last four kept)."""
    s = id_number.strip()
    if len(s) <= 8:
        return "*" * len(s)
    return s[:4] + "*" * (len(s) - 8) + s[-4:]


def mask_text(text: str) -> str:
    """Mask ID numbers and phone numbers written inside free text (descriptions, notes).

    Names in free text cannot be found reliably; screens visitors see show descriptions only
    through this function and truncated.
    """
    if _DIGIT_RUN.search(text) is None:  # the common case: nothing to mask
        return text
    text = _ID_NUMBER.sub(lambda m: mask_id_number(m.group(0)), text)
    text = _MOBILE.sub(lambda m: mask_phone(re.sub(r"\D", "", m.group(0))[-11:]), text)
    return _LANDLINE.sub(lambda m: mask_phone(m.group(0).replace("-", "")), text)


def mask_strings(value: Any) -> Any:
    """A JSON-like value with :func:`mask_text` applied to every string in it (a case state's
    description, timeline reasons, officers' notes...); numbers and keys are left as they are."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: mask_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_strings(v) for v in value]
    return value
