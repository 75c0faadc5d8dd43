"""Reading real files of every supported format, and refusing bad ones with a usable reason."""

from __future__ import annotations

import hashlib
import io
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import docx
import pytest
from docx.oxml import OxmlElement
from pypdf import PdfReader, PdfWriter
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from rag.ingest.documents import HEADING_SEPARATOR, Document, DocumentError, iter_document_paths, load_document

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
INCLUDE = ["**/*.md", "**/*.markdown", "**/*.txt", "**/*.pdf", "**/*.docx", "**/*.html", "**/*.htm"]
EXCLUDE = ["**/.*", "**/~$*"]


def write(root: Path, rel: str, content: str | bytes, encoding: str = "utf-8") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path


def load(root: Path, rel: str, content: str | bytes | None = None, **kwargs: object) -> Document:
    if content is not None:
        write(root, rel, content)
    return load_document(root / rel, root, **kwargs)  # type: ignore[arg-type]


def reason(root: Path, rel: str, content: str | bytes | None = None, **kwargs: object) -> str:
    with pytest.raises(DocumentError) as info:
        load(root, rel, content, **kwargs)
    assert info.value.rel_path == rel
    return info.value.reason


def block_with(doc: Document, needle: str):
    found = [b for b in doc.blocks if needle in b.text]
    assert found, f"no block contains {needle!r}: {[b.text for b in doc.blocks]}"
    return found[0]


def squash(s: str) -> str:
    return " ".join(s.split())


def pdf_bytes(pages: list[list[str]], title: str | None = None) -> bytes:
    buf = io.BytesIO()
    canvas = Canvas(buf, pagesize=A4)
    if title:
        canvas.setTitle(title)
    for lines in pages:
        y = 780
        for line in lines:
            canvas.drawString(72, y, line)
            y -= 16
        canvas.showPage()
    canvas.save()
    return buf.getvalue()


INCIDENT_PAGES = [
    ["Incident response", "1. Purpose", "This procedure explains how we handle security incidents.",
     "2. Reporting", "Call the hotline on extension 4357."],
    ["3. Containment", "Disconnect the laptop from the network but leave it running.",
     "4. Notification", "Notify the DPO within 24 hours of confirming a personal data breach."],
    ["5. Review", "A post-incident review happens within 5 business days."],
]


# --------------------------------------------------------------------------- Markdown


LEAVE_MD = """\
# Leave policy

Applies to all employees.

## 3. Annual leave

### 3.1 Entitlement

Full-time staff get 20 days.

### 3.2 Carry-over

At most 5 days can be carried over
to the next year and must be used by March 31.

## 4. Sick leave

```
# not a heading inside a code fence
```

Other leave
-----------

- bring a doctor's note
- after 3 days
"""


def test_markdown_blocks_know_their_heading_path(tmp_path: Path) -> None:
    doc = load(tmp_path, "leave.md", LEAVE_MD)

    carry = block_with(doc, "At most 5 days")
    assert carry.heading_path == ("Leave policy", "3. Annual leave", "3.2 Carry-over")
    assert carry.text == "At most 5 days can be carried over to the next year and must be used by March 31."
    assert block_with(doc, "20 days").heading_path == ("Leave policy", "3. Annual leave", "3.1 Entitlement")
    assert block_with(doc, "Applies to all").heading_path == ("Leave policy",)
    code = block_with(doc, "# not a heading")
    assert code.heading_path == ("Leave policy", "4. Sick leave")
    notes = block_with(doc, "doctor's note")
    assert notes.heading_path == ("Leave policy", "Other leave")  # a setext heading is level 2
    assert notes.text == "- bring a doctor's note\n- after 3 days"  # list items keep their own lines
    assert doc.title == "Leave policy"
    assert doc.format == "md"
    assert HEADING_SEPARATOR.join(carry.heading_path) == "Leave policy › 3. Annual leave › 3.2 Carry-over"


def test_markdown_text_is_the_file_and_offsets_point_into_it(tmp_path: Path) -> None:
    doc = load(tmp_path, "leave.md", LEAVE_MD)
    assert doc.text == LEAVE_MD
    for b in doc.blocks:
        assert squash(doc.text[b.start:b.end]) == squash(b.text)


def test_front_matter_gives_title_and_kind(tmp_path: Path) -> None:
    content = '---\ntitle: "Remote work rules"\nkind: SOP\nowner: IT\n---\n\n# From home\n\nUse VPN.\n'
    doc = load(tmp_path, "misc/remote.md", content)
    assert doc.title == "Remote work rules"
    assert doc.kind == "SOP"
    assert "owner: IT" not in " ".join(b.text for b in doc.blocks)

    assert load(tmp_path, "misc/nda.md", "---\ntype: contract\n---\nMutual NDA.\n").kind == "contract"


@pytest.mark.parametrize(("rel", "kind"), [
    ("Policies/leave.md", "policy"),
    ("hr/policy/leave.md", "policy"),
    ("SOPs/backup.md", "SOP"),
    ("ops/procedures/backup.md", "SOP"),
    ("legal/Agreements/nda.md", "contract"),
    ("contracts/2024/msa.md", "contract"),
    ("notes/misc.md", "document"),
    ("policy-overview.md", "document"),  # a file name is not a folder
])
def test_folder_names_give_the_kind(tmp_path: Path, rel: str, kind: str) -> None:
    assert load(tmp_path, rel, "Some text.\n").kind == kind


def test_title_falls_back_to_the_file_name(tmp_path: Path) -> None:
    assert load(tmp_path, "expense_claims-2024.md", "No heading here.\n").title == "Expense claims 2024"


def test_chinese_lines_are_joined_without_spaces(tmp_path: Path) -> None:
    doc = load(tmp_path, "zh.md", "# 差旅費\n\n員工應於出差結束後\n30 日內申請報銷，\n並經主管核准。\n")
    assert doc.blocks[0].text == "員工應於出差結束後 30 日內申請報銷，並經主管核准。"
    assert doc.blocks[0].heading_path == ("差旅費",)


def test_utf8_file_with_one_bad_byte_stays_utf8(tmp_path: Path) -> None:
    write(tmp_path, "cut.md", "出差結束後 30 日內申請報銷，逾期不予受理。".encode() + b"\xe5\x8f")
    assert load(tmp_path, "cut.md").blocks[0].text == "出差結束後 30 日內申請報銷，逾期不予受理。\ufffd"


def test_utf16_file_with_bom_is_decoded(tmp_path: Path) -> None:
    write(tmp_path, "u16.md", "# Título\n\nCafé policy.\n".encode("utf-16"))
    doc = load(tmp_path, "u16.md")
    assert doc.title == "Título"
    assert doc.blocks[0].text == "Café policy."


# --------------------------------------------------------------------------- plain text


TXT = (
    "LEAVE POLICY\r\n\r\n"
    "Owner: People  team.\r\nReviewed yearly.\r\n\r\n"
    "3. Annual leave\r\n\r\n"
    "3.2 Carry-over\r\n"
    "At most 5 days carry over.\r\n\r\n"
    "\tSteps:\r\n\r\n"
    "1. Open the portal\r\n2. Submit the form\r\n\r\n"
    "Überstunden werden nicht übertragen.   \r\n"
)


def test_txt_blocks_are_exact_slices_of_the_file(tmp_path: Path) -> None:
    doc = load(tmp_path, "policies/leave.txt", TXT)
    assert doc.text == TXT
    assert [doc.text[b.start:b.end] for b in doc.blocks] == [b.text for b in doc.blocks]
    assert [b.text for b in doc.blocks] == [
        "Owner: People  team.\r\nReviewed yearly.",
        "At most 5 days carry over.",
        "Steps:",
        "1. Open the portal\r\n2. Submit the form",
        "Überstunden werden nicht übertragen.",
    ]
    carry_over = ("LEAVE POLICY", "3. Annual leave", "3.2 Carry-over")
    assert block_with(doc, "At most 5").heading_path == carry_over
    assert block_with(doc, "Open the portal").heading_path == carry_over  # a numbered list is not a heading
    assert doc.format == "txt"
    assert doc.kind == "policy"


def test_txt_without_headings_is_split_on_blank_lines(tmp_path: Path) -> None:
    text = "First paragraph about privacy. It is long enough.\n\nSecond paragraph.\nStill second.\n"
    doc = load(tmp_path, "p.txt", text)
    second = text.index("Second")
    assert [(b.start, b.end) for b in doc.blocks] == [(0, second - 2), (second, len(text) - 1)]
    assert all(b.heading_path == () for b in doc.blocks)


def test_txt_numbered_steps_stay_text(tmp_path: Path) -> None:
    steps = ["Do these steps:", "1. Open the ticket", "2. Call the hotline", "3. Wait"]
    doc = load(tmp_path, "steps.txt", "\n\n".join(steps) + "\n")
    assert [b.text for b in doc.blocks] == steps
    assert all(b.heading_path == () for b in doc.blocks)


@pytest.mark.parametrize("line", ["Café rules – “naïve” employees pay €5.", "Größe und Maße « Été » 20°C"])
def test_cp1252_text_is_decoded(tmp_path: Path, line: str) -> None:
    write(tmp_path, "old.txt", line + "\n", encoding="cp1252")
    assert load(tmp_path, "old.txt").blocks[0].text == line


@pytest.mark.parametrize("line", ["員工應於出差結束後三十日內申請報銷，並經主管核准。",
                                  "差旅費報銷辦法 第三條 出差申請"])  # no Chinese punctuation to go by
def test_big5_text_is_decoded(tmp_path: Path, line: str) -> None:
    write(tmp_path, "zh.txt", f"Northwind\n\n{line}\n", encoding="big5")
    doc = load(tmp_path, "zh.txt")
    assert (doc.title, [b.text for b in doc.blocks]) == ("Northwind", [line])


@pytest.mark.parametrize(("text", "title"), [
    ("Information Security Policy\n===========================\n\n1. Purpose\n\nRules for all staff.\n",
     "Information Security Policy"),
    ("IT Helpdesk - Opening Hours\n---\nMonday to Friday, 8:00 to 18:00.\n", "IT Helpdesk - Opening Hours"),
    ("NORTHWIND SECURITY POLICY\n\nOwner: IT Security.\n\nReview yearly.\n", "NORTHWIND SECURITY POLICY"),
    ("差旅費報銷辦法\n\n出差結束後三十日內申請報銷。\n", "差旅費報銷辦法"),
])
def test_txt_title_is_its_first_line_when_that_is_a_title(tmp_path: Path, text: str, title: str) -> None:
    doc = load(tmp_path, "policies/some_file-name.txt", text)
    assert doc.title == title
    assert title not in [b.text for b in doc.blocks]  # the title is the heading, not a paragraph
    assert all(b.heading_path[0] == title for b in doc.blocks)


@pytest.mark.parametrize("text", [
    "Staff must lock their screens when they leave their desk.\n\nThis applies everywhere.\n",  # a sentence
    "Remember:\n\nLock your screen.\n",  # ends like a sentence
    "1. Purpose\n\nRules for all staff.\n",  # a numbered section heading
    "Updated: 2026-03-02\n\nRules for all staff.\n",  # a date line
    "Short note\nwith a second line in the same paragraph.\n\nMore.\n",  # not followed by a blank line
    "Just one line\n",  # nothing after it
])
def test_txt_without_a_title_line_is_titled_from_its_file_name(tmp_path: Path, text: str) -> None:
    assert load(tmp_path, "policies/some_file-name.txt", text).title == "Some file name"


# --------------------------------------------------------------------------- PDF


def test_pdf_blocks_carry_their_page_and_section(tmp_path: Path) -> None:
    write(tmp_path, "sops/incident.pdf", pdf_bytes(INCIDENT_PAGES, title="Incident Response SOP"))
    doc = load(tmp_path, "sops/incident.pdf")

    dpo = block_with(doc, "Notify the DPO within 24 hours")
    assert dpo.page == 2
    assert dpo.heading_path[-1] == "4. Notification"
    assert block_with(doc, "extension 4357").page == 1
    assert block_with(doc, "post-incident review").heading_path[-1] == "5. Review"
    assert block_with(doc, "post-incident review").page == 3
    assert doc.title == "Incident Response SOP"
    assert (doc.kind, doc.format) == ("SOP", "pdf")
    for b in doc.blocks:
        assert squash(doc.text[b.start:b.end]) == squash(b.text)


def test_pdf_title_from_first_line_when_metadata_has_none(tmp_path: Path) -> None:
    doc = load(tmp_path, "ir.pdf", pdf_bytes(INCIDENT_PAGES))
    assert doc.title == "Incident response"
    assert block_with(doc, "hotline").heading_path == ("Incident response", "2. Reporting")


def test_pdf_with_only_an_owner_password_opens(tmp_path: Path) -> None:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes(INCIDENT_PAGES))))
    writer.encrypt(user_password="", owner_password="owner", algorithm="RC4-128")
    buf = io.BytesIO()
    writer.write(buf)
    assert block_with(load(tmp_path, "restricted.pdf", buf.getvalue()), "DPO").page == 2


def test_password_protected_pdf_is_refused(tmp_path: Path) -> None:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes(INCIDENT_PAGES))))
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    buf = io.BytesIO()
    writer.write(buf)
    assert reason(tmp_path, "locked.pdf", buf.getvalue()) == "encrypted PDF (password protected)"


def test_corrupt_pdf_is_refused(tmp_path: Path) -> None:
    good = pdf_bytes(INCIDENT_PAGES)
    assert reason(tmp_path, "junk.pdf", b"%PDF-1.4\n" + b"garbage " * 200).startswith("not a readable PDF: ")
    assert reason(tmp_path, "word.pdf", b"This is not a PDF at all.\n").startswith("not a readable PDF: ")
    assert reason(tmp_path, "cut.pdf", good[: len(good) // 3]).startswith("not a readable PDF")


def test_pdf_without_text_is_refused_as_scanned(tmp_path: Path) -> None:
    buf = io.BytesIO()
    canvas = Canvas(buf, pagesize=A4)
    canvas.rect(100, 100, 300, 400, fill=1)  # an image-like page: no text objects
    canvas.showPage()
    canvas.save()
    assert reason(tmp_path, "scan.pdf", buf.getvalue()) == (
        "no extractable text (scanned PDF? OCR is not supported)")


# --------------------------------------------------------------------------- DOCX


def onboarding_docx(path: Path) -> None:
    d = docx.Document()
    d.add_paragraph("Onboarding", style="Title")
    d.add_heading("1. Before day one", level=1)
    d.add_paragraph("Prepare everything before the start date.")
    table = d.add_table(rows=3, cols=3)
    for r, row in enumerate([("Task", "Owner", "Deadline"), ("Create accounts", "IT", "3 days before"),
                             ("Order laptop", "IT", "5 days before")]):
        for c, text in enumerate(row):
            table.cell(r, c).text = text
    d.add_heading("1.1 Buddy", level=2)
    d.add_paragraph("Assign a buddy from another team.")
    d.add_heading("2. First day", level=1)
    merged = d.add_table(rows=1, cols=3)
    merged.cell(0, 0).merge(merged.cell(0, 1)).text = "Welcome lunch"
    merged.cell(0, 2).text = "Manager"
    d.add_paragraph("Meet at reception at 9:30.")
    d.save(str(path))


def test_docx_headings_and_table_rows_in_document_order(tmp_path: Path) -> None:
    onboarding_docx(write(tmp_path, "sops/onboarding.docx", b""))
    doc = load(tmp_path, "sops/onboarding.docx")
    assert [(b.text, b.heading_path) for b in doc.blocks] == [
        ("Prepare everything before the start date.", ("Onboarding", "1. Before day one")),
        ("Task | Owner | Deadline", ("Onboarding", "1. Before day one")),
        ("Create accounts | IT | 3 days before", ("Onboarding", "1. Before day one")),
        ("Order laptop | IT | 5 days before", ("Onboarding", "1. Before day one")),
        ("Assign a buddy from another team.", ("Onboarding", "1. Before day one", "1.1 Buddy")),
        ("Welcome lunch | Manager", ("Onboarding", "2. First day")),  # a merged cell counts once
        ("Meet at reception at 9:30.", ("Onboarding", "2. First day")),
    ]
    assert doc.title == "Onboarding"
    assert (doc.kind, doc.format) == ("SOP", "docx")
    assert all(doc.text[b.start:b.end] == b.text for b in doc.blocks)


def test_docx_text_inside_content_controls_is_read(tmp_path: Path) -> None:
    d = docx.Document()
    d.add_heading("Scope", level=1)
    p = d.add_paragraph("Inside a content control.")
    sdt, content = OxmlElement("w:sdt"), OxmlElement("w:sdtContent")
    sdt.append(content)
    p._p.addprevious(sdt)
    content.append(p._p)
    d.add_paragraph("After the control.")
    d.save(str(tmp_path / "c.docx"))
    doc = load(tmp_path, "c.docx")
    assert [(b.text, b.heading_path) for b in doc.blocks] == [
        ("Inside a content control.", ("Scope",)), ("After the control.", ("Scope",))]


def test_docx_core_title_wins(tmp_path: Path) -> None:
    d = docx.Document()
    d.core_properties.title = "Vendor agreement"
    d.add_heading("Parties", level=1)
    d.add_paragraph("Northwind and Bluewater.")
    d.save(str(tmp_path / "v.docx"))
    assert load(tmp_path, "v.docx").title == "Vendor agreement"


def test_corrupt_docx_is_refused(tmp_path: Path) -> None:
    assert reason(tmp_path, "old.docx", b"\xd0\xcf\x11\xe0 old binary word file" * 10).startswith(
        "not a readable .docx file")
    assert reason(tmp_path, "report.doc", b"whatever") == "unsupported type: old Word format (.doc): save it as .docx"


# --------------------------------------------------------------------------- HTML


HTML = """<!doctype html><html><head><title>DPA – Bluewater</title><script>var secret = 1;</script>
<style>p { color: red }</style></head><body>
<nav><a href="/">Home</a> | <a href="/legal">Legal menu</a></nav>
<h1>Data processing agreement</h1>
<p>Between <b>Northwind</b> and Bluewater.</p>
<h2>5. Breaches</h2>
<p>The processor notifies us within<br>48 hours.</p>
<h3>5.1 Content</h3>
<ul><li>Nature of the breach</li><li>Data affected</li></ul>
<h2>6. Sub-processors</h2>
<table><tr><th>Name</th><th>Service</th></tr><tr><td>AWS</td><td>Hosting</td></tr></table>
<div>Loose text in a div.</div>
<p>中文<b>段落</b>不加空格。</p>
<footer>Copyright footer text</footer>
</body></html>"""


def test_html_headings_blocks_and_dropped_chrome(tmp_path: Path) -> None:
    doc = load(tmp_path, "contracts/dpa.html", HTML)
    assert doc.title == "DPA – Bluewater"
    assert (doc.kind, doc.format) == ("contract", "html")
    assert block_with(doc, "48 hours").heading_path == ("Data processing agreement", "5. Breaches")
    assert block_with(doc, "48 hours").text == "The processor notifies us within 48 hours."
    assert block_with(doc, "Nature of").heading_path == (
        "Data processing agreement", "5. Breaches", "5.1 Content")
    assert block_with(doc, "AWS").text == "AWS | Hosting"
    assert block_with(doc, "AWS").heading_path == ("Data processing agreement", "6. Sub-processors")
    assert block_with(doc, "Between").text == "Between Northwind and Bluewater."
    assert block_with(doc, "Loose text").text == "Loose text in a div."
    assert block_with(doc, "中文").text == "中文段落不加空格。"
    for chrome in ("Legal menu", "secret", "color: red", "Copyright footer"):
        assert chrome not in doc.text
    assert all(doc.text[b.start:b.end] == b.text for b in doc.blocks)


def test_html_tables_keep_one_line_per_row_with_the_header_row(tmp_path: Path) -> None:
    page = ("<h1>IT Helpdesk</h1><h2>Contact</h2><table><thead><tr><th>Channel</th><th>Address</th>"
            "<th>Response time</th></tr></thead><tbody><tr><th>Email</th><td>help@x.example</td><td>1 day</td></tr>"
            "<tr><th>Phone</th><td>ext. 4357</td><td>1 hour</td></tr></tbody></table>"
            # a layout table: its cell holds a real table, whose rows must not be flattened into one cell
            "<h2>Opening hours</h2><table><tr><td><table><tr><th>Day</th><th>Hours</th></tr>"
            "<tr><td>Mon–Fri</td><td>8:00–18:00</td></tr><tr><td>Sat</td><td>closed</td></tr></table></td></tr>"
            "</table>")
    doc = load(tmp_path, "it.html", page)
    assert [(b.text, b.heading_path[-1]) for b in doc.blocks] == [
        ("Channel | Address | Response time", "Contact"),
        ("Email | help@x.example | 1 day", "Contact"),
        ("Phone | ext. 4357 | 1 hour", "Contact"),
        ("Day | Hours", "Opening hours"),
        ("Mon–Fri | 8:00–18:00", "Opening hours"),
        ("Sat | closed", "Opening hours"),
    ]


def test_html_title_falls_back_to_first_h1(tmp_path: Path) -> None:
    doc = load(tmp_path, "a.htm", "<h1>Security <em>policy</em></h1><p>Use MFA.</p>")
    assert doc.title == "Security policy"


# --------------------------------------------------------------------------- file facts and links


def test_identity_hash_size_and_mtime(tmp_path: Path) -> None:
    path = write(tmp_path, "a/b.md", "# T\n\nBody.\n")
    os.utime(path, (1_700_000_000, 1_700_000_000))
    doc = load(tmp_path, "a/b.md")
    assert doc.rel_path == "a/b.md"
    assert doc.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert doc.size == path.stat().st_size
    assert doc.modified.tzinfo is not None
    assert doc.modified.astimezone(UTC).timestamp() == 1_700_000_000


def test_link_uses_docs_base_url_with_quoted_path(tmp_path: Path) -> None:
    write(tmp_path, "HR policies/Leave & sick.md", "Body.\n")
    doc = load(tmp_path, "HR policies/Leave & sick.md", base_url="https://intranet.example/docs/")
    assert doc.link == "https://intranet.example/docs/HR%20policies/Leave%20%26%20sick.md"


def test_link_defaults_to_a_file_url(tmp_path: Path) -> None:
    write(tmp_path, "my docs/a b.md", "Body.\n")
    doc = load(tmp_path, "my docs/a b.md")
    assert doc.link.startswith("file:///")
    assert doc.link.endswith("/my%20docs/a%20b.md")
    assert doc.link == (tmp_path / "my docs" / "a b.md").resolve().as_uri()


# --------------------------------------------------------------------------- bad inputs


def test_empty_and_blank_files_are_refused(tmp_path: Path) -> None:
    assert reason(tmp_path, "empty.md", b"") == "empty file"
    assert reason(tmp_path, "blank.txt", "  \n\n\t\n") == "no text found in the document"


def test_binary_content_with_a_text_name_is_refused(tmp_path: Path) -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
    assert reason(tmp_path, "notes.txt", png) == "binary content in a text file"
    noisy = bytes((i * 37 + 11) % 256 for i in range(4000)).replace(b"\x00", b"\x01")
    assert reason(tmp_path, "page.md", noisy) == "binary content in a text file"


def test_unsupported_type_is_refused(tmp_path: Path) -> None:
    assert reason(tmp_path, "budget.numbers", b"PK\x03\x04") == (
        "unsupported type: Apple Numbers file: export it as .xlsx")
    assert reason(tmp_path, "data.parquet", b"PAR1") == (
        "unsupported type .parquet (documents are .docx .htm .html .markdown .md .pdf .pptx .txt .xlsx)")


def test_file_over_the_size_limit_is_refused_before_reading(tmp_path: Path) -> None:
    assert reason(tmp_path, "big.md", "x" * 5000, max_bytes=4096) == (
        "file is 4.9 KB, over the 4 KB limit (MAX_FILE_MB)")


def test_real_50mb_file_is_refused_with_the_default_limit(tmp_path: Path) -> None:
    with open(tmp_path / "huge.pdf", "wb") as f:
        f.truncate(50 * 1024 * 1024)  # sparse: costs no disk and is never read
    assert reason(tmp_path, "huge.pdf") == "file is 50.0 MB, over the 25 MB limit (MAX_FILE_MB)"


def test_missing_file_is_a_document_error(tmp_path: Path) -> None:
    assert reason(tmp_path, "gone.md") == "file disappeared before it could be read"


# --------------------------------------------------------------------------- finding files


def test_iter_document_paths_filters_and_sorts(tmp_path: Path) -> None:
    for rel in ["top.md", "b/Policy.PDF", "a/deep/er/x.txt", "a/.hidden.md", ".git/HEAD.md",
                "a/.drafts/d.md", "a/~$lock.docx", "a/real.docx", "a/image.png", "c/page.html"]:
        write(tmp_path, rel, "x")
    found = iter_document_paths(tmp_path, INCLUDE, EXCLUDE)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "a/deep/er/x.txt", "a/real.docx", "b/Policy.PDF", "c/page.html", "top.md"]
    assert all(p.is_file() for p in found)

    only_b = iter_document_paths(tmp_path, ["b/**"], [])
    assert [p.name for p in only_b] == ["Policy.PDF"]
    no_a = iter_document_paths(tmp_path, INCLUDE, [*EXCLUDE, "a/**", "*.html"])
    assert [p.relative_to(tmp_path).as_posix() for p in no_a] == ["b/Policy.PDF", "top.md"]


def test_iter_document_paths_survives_a_symlink_loop(tmp_path: Path) -> None:
    write(tmp_path, "a/doc.md", "x")
    (tmp_path / "a" / "loop").symlink_to(tmp_path)
    found = [p.relative_to(tmp_path).as_posix() for p in iter_document_paths(tmp_path, INCLUDE, EXCLUDE)]
    assert found == ["a/doc.md"]


def test_iter_document_paths_refuses_a_missing_root(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        iter_document_paths(tmp_path / "unmounted", INCLUDE, EXCLUDE)
    with pytest.raises(NotADirectoryError):
        iter_document_paths(write(tmp_path, "file.md", "x"), INCLUDE, EXCLUDE)


# --------------------------------------------------------------------------- the sample corpus


def sample_docs() -> dict[str, Document]:
    root = EXAMPLES / "docs"
    paths = iter_document_paths(root, INCLUDE, EXCLUDE)
    return {doc.rel_path: doc for doc in (load_document(p, root) for p in paths)}


def test_every_sample_document_loads_with_the_right_kind() -> None:
    docs = sample_docs()
    assert {rel: (d.kind, d.format) for rel, d in docs.items()} == {
        "contracts/data-processing-agreement.html": ("contract", "html"),
        "contracts/master-services-agreement-bluewater.pdf": ("contract", "pdf"),
        "customer-returns-procedure.md": ("SOP", "md"),
        "policies/information-security-policy.txt": ("policy", "txt"),
        "policies/leave-policy.md": ("policy", "md"),
        "policies/差旅費報銷辦法.md": ("policy", "md"),
        "sops/employee-onboarding-sop.docx": ("SOP", "docx"),
        "sops/incident-response-sop.pdf": ("SOP", "pdf"),
    }
    for doc in docs.values():
        words = sum(len(b.text.split()) for b in doc.blocks)
        assert words >= 100 or sum(len(b.text) for b in doc.blocks) >= 800, doc.rel_path
        assert all(b.heading_path for b in doc.blocks), doc.rel_path
        assert (EXAMPLES / "docs" / doc.rel_path).stat().st_size < 100_000
    assert docs["sops/incident-response-sop.pdf"].title == "Incident Response SOP"
    assert block_with(docs["sops/incident-response-sop.pdf"], "within 24 hours").page == 2
    assert block_with(docs["policies/leave-policy.md"], "up to a maximum of 5 days").heading_path == (
        "Leave policy", "3. Annual leave", "3.2 Carry-over")


def test_golden_questions_point_at_text_that_only_their_document_has() -> None:
    docs = sample_docs()
    lines = (EXAMPLES / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line) for line in lines if line.strip()]
    assert 8 <= len(questions) <= 12
    unanswerable = [q for q in questions if q.get("unanswerable")]
    assert len(unanswerable) == 2 and not any("doc" in q for q in unanswerable)
    for q in questions:
        if q.get("unanswerable"):
            continue
        answer = squash(q["answer"])
        holders = [rel for rel, d in docs.items() if any(answer in squash(b.text) for b in d.blocks)]
        assert holders == [q["doc"]], q
    assert sum(any("\u4e00" <= ch <= "\u9fff" for ch in q["question"]) for q in questions) >= 2


# --------------------------------------------------------------------------- the date a document states


MTIME = 1_700_000_000  # 2023-11-14: what the file system says (a clone, a copy)


def load_dated(root: Path, rel: str, content: str | bytes) -> Document:
    path = write(root, rel, content)
    os.utime(path, (MTIME, MTIME))
    return load_document(path, root)


@pytest.mark.parametrize(("rel", "content"), [
    ("a.md", "---\ntitle: Leave\nupdated: 2026-03-02\n---\n\n# Leave\n\nText.\n"),
    ("b.md", "---\nlast_modified: 2026-03-02T10:30:00Z\n---\n\n# Leave\n\nText.\n"),
    ("c.md", "---\ndate: 2026-03-02\n---\n\nText.\n"),
    ("d.md", "# Leave\n\nLast updated: 2 March 2026\n\nText.\n"),
    ("e.txt", "Leave policy\n\nUpdated: 2026-03-02\n\n1. Scope\n\nEveryone.\n"),
    ("f.txt", "Leave policy\n============\nLast updated on March 2, 2026. Owner: HR.\n\nText.\n"),
    ("g.md", "# 請假辦法\n\n最後更新：2026年3月2日\n\n內容。\n"),
    ("h.txt", "請假辦法\n\n最後更新：民國115年3月2日\n\n內容。\n"),
    ("i.html", '<html><head><meta name="last-modified" content="2026-03-02"></head><body><p>Text.</p></body></html>'),
    ("j.html", '<head><meta property="article:modified_time" content="2026-03-02T08:00:00+00:00"></head><p>T.</p>'),
    ("k.html", "<h1>Leave</h1><p class=meta>Updated: 2026/03/02</p><p>Text.</p>"),
])
def test_a_stated_update_date_is_the_documents_date(tmp_path: Path, rel: str, content: str) -> None:
    assert load_dated(tmp_path, rel, content).modified.date().isoformat() == "2026-03-02"


@pytest.mark.parametrize("content", [
    "# Leave\n\nText.\n",  # no date stated
    "---\nupdated: 2999-01-01\n---\n\nText.\n",  # in the future: a typo or an effective date
    "---\nupdated: soon\n---\n\nText.\n",  # not a date
    "# Leave\n\nEffective 1 January 2024.\n\nText.\n",  # an effective date is not an update
    "# Leave\n\n" + "Paragraph.\n\n" * 40 + "Updated: 2026-03-02\n",  # far from the top: about something else
])
def test_without_a_believable_stated_date_the_file_mtime_is_used(tmp_path: Path, content: str) -> None:
    assert load_dated(tmp_path, "x.md", content).modified.timestamp() == MTIME


def docx_modified(modified: datetime | None) -> bytes:
    d = docx.Document()
    d.add_heading("Onboarding", level=1)
    d.add_paragraph("Prepare the laptop.")
    if modified:
        d.core_properties.modified = modified
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def test_docx_modified_property_is_its_date_unless_it_is_the_templates(tmp_path: Path) -> None:
    dated = load_dated(tmp_path, "dated.docx", docx_modified(datetime(2026, 3, 2, 9, 0)))
    assert dated.modified == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    # python-docx's blank template carries 2013-12-23 23:15: a placeholder, not when the file changed
    assert load_dated(tmp_path, "template.docx", docx_modified(None)).modified.timestamp() == MTIME


def pdf_with_dates(mod_date: str | None) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes([["Incident response", "Call the hotline."]]))))
    writer.add_metadata({"/ModDate": mod_date} if mod_date else {})
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def test_pdf_mod_date_is_its_date_unless_it_is_a_placeholder(tmp_path: Path) -> None:
    assert load_dated(tmp_path, "a.pdf", pdf_with_dates("D:20260302090000+00'00'")).modified == datetime(
        2026, 3, 2, 9, 0, tzinfo=UTC)
    # reportlab's invariant mode writes 2000-01-01 00:00
    assert load_dated(tmp_path, "b.pdf", pdf_with_dates("D:20000101000000+00'00'")).modified.timestamp() == MTIME
    assert load_dated(tmp_path, "c.pdf", pdf_with_dates("D:garbage")).modified.timestamp() == MTIME


def test_sample_documents_state_real_dates_and_exactly_one_is_stale() -> None:
    """The demo shows ages, and the stale flag on exactly one document (STALE_AFTER_DAYS's default)."""
    from rag.answering.freshness import is_stale
    from rag.config import load_settings

    stale_after = load_settings().stale_after_days
    when_written = datetime(2026, 11, 30, tzinfo=UTC)  # when these dates were chosen; the test stays true later
    docs = sample_docs()
    for doc in docs.values():  # a clone's mtimes are all "today": every date must come from the document
        path = EXAMPLES / "docs" / doc.rel_path
        assert abs(doc.modified.timestamp() - path.stat().st_mtime) > 60, doc.rel_path
    stale = [rel for rel, doc in docs.items() if is_stale(doc.modified, when_written, stale_after)]
    assert stale == ["policies/差旅費報銷辦法.md"]
    assert len({doc.modified.date() for doc in docs.values()}) == len(docs)  # ages differ
