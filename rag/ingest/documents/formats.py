"""Which file types are documents, and what to tell an admin about every other file in the share.

A file the bot cannot read is reported as skipped with its type and what to do (save a .doc as
.docx, …), never silently ignored: people put Office files and scans in a docs share and expect
them to be found.
"""

from __future__ import annotations

FORMATS = {".md": "md", ".markdown": "md", ".txt": "txt", ".pdf": "pdf", ".docx": "docx",
           ".html": "html", ".htm": "html", ".xlsx": "xlsx", ".pptx": "pptx"}
# Formats that are ZIP packages: their decompressed size and entry count are limited before a parser opens them
ZIP_FORMATS = frozenset({"docx", "xlsx", "pptx"})

_IMAGE = "an image ({suffix}): scanned pages need OCR, which the bot does not do; add the text as PDF or .docx"
_UNSUPPORTED = {
    ".doc": "old Word format (.doc): save it as .docx",
    ".dot": "old Word template (.dot): save it as .docx",
    ".xls": "old Excel format (.xls): save it as .xlsx",
    ".ppt": "old PowerPoint format (.ppt): save it as .pptx",
    ".docm": "macro-enabled Word file (.docm): save it as .docx",
    ".xlsm": "macro-enabled Excel file (.xlsm): save it as .xlsx",
    ".pptm": "macro-enabled PowerPoint file (.pptm): save it as .pptx",
    ".rtf": "Rich Text Format (.rtf): save it as .docx or PDF",
    ".odt": "OpenDocument text (.odt): save it as .docx",
    ".ods": "OpenDocument spreadsheet (.ods): save it as .xlsx",
    ".odp": "OpenDocument presentation (.odp): save it as .pptx",
    ".msg": "Outlook message (.msg): save its text as PDF or .txt",
    ".eml": "e-mail message (.eml): save its text as PDF or .txt",
    ".csv": "comma-separated values (.csv): save it as .xlsx",
    ".zip": "an archive (.zip): unpack it into the docs folder",
    ".7z": "an archive (.7z): unpack it into the docs folder",
    ".pages": "Apple Pages file: export it as .docx or PDF",
    ".key": "Apple Keynote file: export it as .pptx or PDF",
    ".numbers": "Apple Numbers file: export it as .xlsx",
    **{s: _IMAGE for s in (".png", ".jpg", ".jpeg", ".gif", ".tif", ".tiff", ".bmp", ".webp", ".heic")},
}


def unsupported_reason(suffix: str) -> str:
    """Why a file of this type is not read, naming its type, in one line (`suffix` lower-case, with its dot)."""
    if not suffix:
        return f"no file extension, so no known type (documents are {supported_list()})"
    known = _UNSUPPORTED.get(suffix)
    if known:
        return "unsupported type: " + known.format(suffix=suffix)
    return f"unsupported type {suffix} (documents are {supported_list()})"


def supported_list() -> str:
    return " ".join(sorted(FORMATS))


def suffix_of(name: str) -> str:
    """The lower-case extension of a file name, "" when it has none (".env" is a name, not an extension)."""
    stem, dot, ext = name.rpartition(".")
    return f".{ext.lower()}" if dot and stem and ext else ""
