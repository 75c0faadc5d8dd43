"""Regenerate the binary sample documents (PDF and DOCX) in examples/docs.

The Markdown, text and HTML samples are written by hand; the PDFs and the Word file are built
here so they can be changed and rebuilt instead of edited in a binary editor:

    python examples/make_sample_docs.py [output-dir]

Output is reproducible (fixed dates, reportlab's invariant mode, fixed ZIP timestamps), so
running it again does not change the committed files.

Each file carries the date it was last updated (PDF ModDate, the Word file's modified property), as
the hand-written ones state theirs (front matter, an "Updated:" line): a clone gives every file today's
mtime, and the demo should show real ages, with one document stale (older than STALE_AFTER_DAYS, 365).
"""

from __future__ import annotations

import sys
import zipfile
from datetime import datetime
from pathlib import Path

import docx
from docx.shared import Pt
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, PageBreak, Paragraph, SimpleDocTemplate, Spacer

DOCS = Path(__file__).resolve().parent / "docs"
FIXED_DATE = datetime(2024, 3, 1, 9, 0, 0)
INCIDENT_RESPONSE_UPDATED = datetime(2026, 5, 11, 9, 0, 0)
MASTER_SERVICES_UPDATED = datetime(2026, 4, 1, 9, 0, 0)
ONBOARDING_UPDATED = datetime(2026, 7, 21, 9, 0, 0)

# PDF sources in a tiny Markdown-like format: "# " title, "@ " small print, "## " / "### " headings,
# "- " bullets, "<pagebreak>"; paragraphs are separated by blank lines.

INCIDENT_RESPONSE = """\
# Incident Response SOP

@ Northwind Logistics Ltd. | SOP-IT-007 | Version 1.3 | Effective 1 March 2024 | Owner: Head of IT
Security

## 1. Purpose

This standard operating procedure describes how Northwind Logistics detects, reports, contains and
learns from information security incidents. It turns the incident rules of the Information Security
Policy into concrete steps, so that anyone on call can act quickly and consistently, day or night.

## 2. Scope

The procedure covers incidents affecting company systems, devices, cloud services and data, including
the Bluewater fleet-tracking platform and the warehouse management system. It applies to all staff,
contractors and the on-call IT engineers. Physical security incidents at warehouses (theft, break-ins)
follow the Site Security SOP, unless IT systems or data are also affected.

An incident is any event that threatens the confidentiality, integrity or availability of our
information: for example a phishing email that was clicked, malware on a laptop, a lost phone, an
account used from an unknown country, or an outage of the fleet-tracking platform.

## 3. Severity levels

The first responder assigns a severity level when the incident is logged. The level can be raised or
lowered later by the incident commander.

- SEV1 - critical: confirmed data breach, ransomware, or an outage that stops dispatch at more than one
  warehouse. Acknowledged within 15 minutes, 24 hours a day, 7 days a week.

- SEV2 - high: a single compromised account or device, or an outage at one warehouse. Acknowledged
  within 1 hour during business hours and within 4 hours outside them.

- SEV3 - low: suspicious activity without evidence of compromise, such as a reported phishing email that
  nobody clicked. Handled on the next business day.

When in doubt, choose the higher severity. Downgrading an incident later costs little; a slow start on a
real breach can cost a great deal.

<pagebreak>

## 4. Reporting an incident

Anyone who suspects an incident reports it immediately, without first trying to investigate it
themselves. Call the IT incident hotline on extension 4357 (from outside: +886 2 5550 4357) or post in
the #security-incidents Slack channel. If Slack or email may be compromised, use the phone.

The on-call engineer logs every report as a ticket in the IT service desk with the category Security
Incident, records the time the report was received, and assigns the severity level.

## 5. Notification and escalation

### 5.1 Internal escalation

For SEV1 and SEV2 incidents the on-call engineer appoints an incident commander from the IT Security
team. The incident commander informs the Chief Information Officer within 2 hours for SEV1 and by the
end of the business day for SEV2, and opens a dedicated Slack channel for the incident.

### 5.2 Personal data breaches

If the incident involves personal data of employees, drivers or customers, the incident commander must
notify the Data Protection Officer (DPO) within 24 hours of confirming the breach, by phone and by email
to dpo@northwind.example. The DPO decides whether the breach must be reported to the regulator and to
the people affected. Where a report to the regulator is required, the DPO files it within 72 hours of
Northwind becoming aware of the breach.

If the breach happened at a processor such as Bluewater Software, the processor's notice starts the same
clock: the incident commander treats the breach as confirmed on receipt of the notice.

### 5.3 Customers and the public

Only the Head of Communications may inform customers, the press or the public about an incident, after
review by Legal. Key-account customers whose shipment data is affected are contacted within 2 business
days of that review by their account manager.

<pagebreak>

## 6. Containment and recovery

The incident commander decides the containment steps. Typical steps are disabling the affected accounts,
isolating infected devices from the network, revoking API keys and blocking malicious sender domains. Do
not switch off a device suspected of malware: disconnect it from the network and leave it running so its
memory can be examined.

Systems are restored from known-good backups only after the root cause has been removed. The incident
commander confirms with the system owner that the restored system works before closing the containment
phase.

## 7. Evidence preservation

Logs, disk images and emails related to an incident are preserved before any clean-up. Evidence is
recorded on chain-of-custody form IR-3 and kept for 1 year after the incident is closed, or longer if
Legal places it on hold.

## 8. Post-incident review

Every SEV1 and SEV2 incident gets a blameless post-incident review within 5 business days of closing the
incident. The review records the timeline, the root cause, what went well and what did not, and actions
with an owner and a due date. Actions are tracked in the IT Security backlog and reported to the CIO
each month.

## 9. Document control

This SOP is reviewed every 12 months by the Head of IT Security and after every SEV1 incident. Version
1.3 added the processor breach rule in section 5.2.
"""

MASTER_SERVICES_AGREEMENT = """\
# Master Services Agreement

@ Agreement number NW-C-2024-017 | Dated 1 April 2024

This Master Services Agreement is made between Northwind Logistics Ltd., a company registered in Taiwan
with its office at 88 Dunhua North Road, Taipei (the Customer), and Bluewater Software Ltd., a company
registered in Singapore (the Supplier).

## 1. Services

The Supplier provides the Bluewater fleet-tracking platform, including vehicle tracking, route planning,
the driver app and related support (the Services), as described in Schedule 1. The Supplier performs the
Services with reasonable skill and care and in line with good industry practice.

## 2. Service levels

The Supplier makes the platform available 99.5% of the time in each calendar month, excluding planned
maintenance announced at least 5 business days in advance and carried out between 01:00 and 05:00 Taiwan
time. If availability falls below 99.5%, the Customer receives a service credit of 5% of the monthly fee
for each 0.5% below the target, up to a maximum of 25% of the monthly fee.

Priority 1 support requests (platform unavailable) are answered within 30 minutes, 24 hours a day.

## 3. Fees and payment

The Customer pays an annual subscription fee of NT$1,860,000, excluding VAT, invoiced quarterly in
advance. Invoices are payable within 45 days of the invoice date (net 45). Amounts not paid when due
bear interest of 1% per month from the due date until paid.

If the Customer disputes an invoice in good faith, it notifies the Supplier in writing within 15 days of
receiving it and pays the undisputed part on time. Fees are fixed for the initial term; after that the
Supplier may raise them once a year by no more than 4%.

<pagebreak>

## 4. Term and termination

This Agreement starts on 1 April 2024 and runs for an initial term of 3 years. It then renews
automatically for successive periods of 1 year unless either party gives notice at least 90 days before
the end of the current term.

Either party may terminate this Agreement for convenience by giving at least 60 days' written notice to
the other party. Either party may terminate immediately by written notice if the other party commits a
material breach that is not remedied within 30 days of a written request to remedy it, or if the other
party becomes insolvent.

On termination the Supplier returns and deletes Customer data as set out in the Data Processing
Agreement, and refunds any fees paid in advance for the period after termination.

## 5. Confidentiality

Each party keeps the other party's confidential information secret and uses it only for this Agreement.
This obligation continues for 5 years after the Agreement ends.

## 6. Data protection

The parties' obligations for personal data processed through the Services are set out in the Data
Processing Agreement, which forms part of this Agreement.

## 7. Limitation of liability

Each party's total liability arising out of or in connection with this Agreement in any contract year is
limited to the total fees paid or payable by the Customer in the 12 months before the event giving rise
to the claim. Neither party is liable for loss of profit, loss of revenue or any indirect or
consequential loss.

These limits do not apply to liability for death or personal injury caused by negligence, fraud, breach
of confidentiality, or the Supplier's breach of the Data Processing Agreement, for which the Supplier's
liability is limited to three times the annual subscription fee.

## 8. Governing law and disputes

This Agreement is governed by the laws of Taiwan (Republic of China). The parties first try to solve any
dispute through a meeting of senior managers within 20 business days. Disputes that are not solved in
this way are submitted to the Taiwan Taipei District Court as court of first instance.

## 9. Signatures

Signed for Northwind Logistics Ltd. by Grace Lin, Chief Operating Officer, and for Bluewater Software
Ltd. by Daniel Tan, Managing Director, on 28 March 2024.
"""

ONBOARDING_CHECKLIST = [
    ("Task", "Owner", "Deadline"),
    ("Send welcome email with first-day details", "Hiring manager", "5 working days before start"),
    ("Create accounts (Active Directory, email, Slack, Northwind People)", "IT Service Desk",
     "3 working days before start"),
    ("Prepare laptop with full-disk encryption", "IT Service Desk", "2 working days before start"),
    ("Order safety shoes and high-visibility vest (warehouse roles)", "Site Safety Officer",
     "5 working days before start"),
    ("Assign an onboarding buddy", "Hiring manager", "Before day 1"),
    ("Enrol in health insurance and pension scheme", "People & Culture", "Within 14 days of start"),
]


def parse_source(source: str) -> list[tuple[str, str]]:
    """(style, text) pairs from the Markdown-like source; wrapped lines are joined."""
    styles = {"# ": "title", "@ ": "meta", "## ": "h1", "### ": "h2", "- ": "bullet"}
    out: list[tuple[str, str]] = []
    for para in source.strip().split("\n\n"):
        text = " ".join(line.strip() for line in para.splitlines())
        if text == "<pagebreak>":
            out.append(("pagebreak", ""))
            continue
        prefix = next((p for p in sorted(styles, key=len, reverse=True) if text.startswith(p)), "")
        out.append((styles.get(prefix, "p"), text[len(prefix):]))
    return out


def build_pdf(path: Path, source: str, *, title: str, updated: datetime) -> None:
    styles = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=styles["BodyText"], fontName="Helvetica", fontSize=10, leading=14)
    style = {
        "title": ParagraphStyle("t", parent=styles["Title"], fontName="Helvetica-Bold", fontSize=18),
        "meta": ParagraphStyle("m", parent=body, fontSize=8, leading=11),
        "h1": ParagraphStyle("h1", parent=styles["Heading2"], fontName="Helvetica-Bold", fontSize=13),
        "h2": ParagraphStyle("h2", parent=styles["Heading3"], fontName="Helvetica-Bold", fontSize=11),
        "p": body,
        "bullet": ParagraphStyle("b", parent=body, leftIndent=14, bulletIndent=4),
    }
    flow: list[Flowable] = []
    for kind, text in parse_source(source):
        if kind == "pagebreak":
            flow.append(PageBreak())
        elif kind == "bullet":
            flow.append(Paragraph(text, style["bullet"], bulletText="•"))
        else:
            flow.append(Paragraph(text, style[kind]))
        if kind == "meta":
            flow.append(Spacer(1, 0.4 * cm))

    def footer(canvas: Canvas, doc: SimpleDocTemplate) -> None:
        # CreationDate and ModDate: the update date instead of invariant mode's 2000-01-01
        canvas.setDateFormatter(lambda *_: updated.strftime("D:%Y%m%d%H%M%S+00'00'"))
        canvas.setFont("Helvetica", 8)
        canvas.drawString(2 * cm, 1.2 * cm, f"Northwind Logistics - {title} - Page {doc.page}")

    doc = SimpleDocTemplate(str(path), pagesize=A4, title=title, author="Northwind Logistics Ltd.",
                            leftMargin=2 * cm, rightMargin=2 * cm, topMargin=2 * cm, bottomMargin=2 * cm,
                            invariant=1)
    doc.build(flow, onFirstPage=footer, onLaterPages=footer)


def build_onboarding_docx(path: Path) -> None:
    d = docx.Document()
    d.styles["Normal"].font.size = Pt(10.5)
    d.add_paragraph("Employee Onboarding SOP", style="Title")
    d.add_paragraph("Northwind Logistics Ltd. | SOP-HR-002 | Version 2.0 | Owner: People & Culture")
    d.add_heading("1. Purpose", level=1)
    d.add_paragraph(
        "This procedure makes sure every new employee at Northwind Logistics has a desk, accounts, equipment "
        "and a clear plan on the first day, and that nobody operates warehouse equipment before finishing "
        "the required safety training.")
    d.add_heading("2. Roles", level=1)
    d.add_paragraph(
        "The hiring manager owns the onboarding of each new employee. People & Culture prepares the contract "
        "and benefits, the IT Service Desk prepares accounts and equipment, and the Site Safety Officer "
        "handles safety equipment and induction for warehouse roles. Each new employee also gets an "
        "onboarding buddy: an experienced colleague from another team who answers everyday questions during "
        "the first 3 months.")
    d.add_heading("3. Before the first day", level=1)
    d.add_paragraph(
        "People & Culture opens an onboarding ticket as soon as the contract is signed. The ticket contains "
        "the checklist below; each owner ticks off their tasks in the ticket by the deadline.")
    table = d.add_table(rows=0, cols=3)
    table.style = "Table Grid"
    for row in ONBOARDING_CHECKLIST:
        cells = table.add_row().cells
        for cell, text in zip(cells, row, strict=True):
            cell.text = text
    d.add_heading("4. The first day", level=1)
    d.add_paragraph(
        "The hiring manager meets the new employee at reception at 9:30. On the first day the new employee "
        "collects the laptop and badge, signs the IT acceptable use statement, and meets the onboarding "
        "buddy. Warehouse staff also complete a 2-hour site safety induction with the Site Safety Officer "
        "before entering the warehouse floor.")
    d.add_heading("5. The first 90 days", level=1)
    d.add_heading("5.1 Check-ins", level=2)
    d.add_paragraph(
        "The hiring manager holds structured check-ins after 30, 60 and 90 days, using the check-in template "
        "in Northwind People. Goals for the probation period are agreed at the 30-day check-in.")
    d.add_heading("5.2 Probation review", level=2)
    d.add_paragraph(
        "The probation period is 3 months. The hiring manager completes the probation review form in week 11 "
        "and sends it to People & Culture, who confirm the outcome to the employee in writing before the "
        "probation period ends. Probation can be extended once, by at most 3 months.")
    d.add_heading("6. Mandatory training", level=1)
    d.add_paragraph("Security awareness training: within 14 days of the start date (online, 45 minutes).",
                    style="List Bullet")
    d.add_paragraph("Code of conduct and anti-bribery training: within 30 days of the start date.",
                    style="List Bullet")
    d.add_paragraph(
        "Forklift certification: before operating any forklift or reach truck; the Site Safety Officer "
        "keeps the certificate on file.", style="List Bullet")
    d.add_heading("7. Records", level=1)
    d.add_paragraph(
        "The completed onboarding ticket, the signed acceptable use statement and training certificates are "
        "kept in the employee file for the duration of employment plus 5 years.")

    props = d.core_properties
    props.title = "Employee Onboarding SOP"
    props.author = "People & Culture"
    props.created = props.last_printed = FIXED_DATE
    props.modified = ONBOARDING_UPDATED
    props.revision = 1
    d.save(str(path))
    _fix_zip_timestamps(path)


def _fix_zip_timestamps(path: Path) -> None:
    """python-docx stamps every ZIP entry with the current time; pin them so rebuilds are identical."""
    with zipfile.ZipFile(path) as src:
        entries = [(info.filename, src.read(info)) for info in src.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(info, data)


def main(out: Path = DOCS) -> None:
    (out / "sops").mkdir(parents=True, exist_ok=True)
    (out / "contracts").mkdir(parents=True, exist_ok=True)
    build_pdf(out / "sops" / "incident-response-sop.pdf", INCIDENT_RESPONSE, title="Incident Response SOP",
              updated=INCIDENT_RESPONSE_UPDATED)
    build_pdf(out / "contracts" / "master-services-agreement-bluewater.pdf", MASTER_SERVICES_AGREEMENT,
              title="Master Services Agreement", updated=MASTER_SERVICES_UPDATED)
    build_onboarding_docx(out / "sops" / "employee-onboarding-sop.docx")
    print(f"wrote sample PDF and DOCX files under {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DOCS)
