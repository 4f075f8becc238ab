"""Masking of reporters' personal data for screens visitors can see (the wall)."""

from __future__ import annotations


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
