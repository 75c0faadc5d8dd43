"""Contracts that share boilerplate: six English supply agreements and five Chinese 採購合約.

Every contract has the same confidentiality clause (as written in real contracts: re-wrapped,
typographic apostrophes or full-width digits in some copies), a termination clause that reads
alike but gives different notice periods (so it is *not* one text), and clauses of its own. Only
Acme's and 華新科技's have a data-protection clause, which also speaks of confidential information.
"""

from __future__ import annotations

from pathlib import Path

EN_PARTIES = ["Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne"]
EN_GOODS = ["office furniture", "laboratory reagents", "payroll software licences", "industrial fasteners",
            "solar inverters", "security cameras"]
EN_LAWS = ["England", "Scotland", "Ireland", "New York", "Ontario", "Singapore"]
EN_CONFIDENTIALITY = (
    "Each party shall keep confidential all information disclosed by the other party under this Agreement, "
    "use it only to perform this Agreement and not disclose it to any third party without the other party's "
    "prior written consent. These obligations survive termination of this Agreement for three (3) years."
)
EN_DATA_PROTECTION = (
    "Acme processes personal data of the Customer's employees only on the Customer's documented instructions, "
    "protects it with encryption at rest and in transit, and reports any personal data breach to the Customer "
    "within 48 hours."
)

ZH_PARTIES = ["華新科技", "東亞物流", "北辰電子", "南星食品", "西嶺建設"]
ZH_GOODS = ["伺服器設備", "冷鏈運輸服務", "電子零組件", "烘焙原料", "鋼筋建材"]
ZH_COURTS = ["臺北", "臺中", "高雄", "新竹", "臺南"]
ZH_CONFIDENTIALITY = (
    "雙方對於因本合約而知悉或持有之他方營業秘密及其他機密資訊，應負保密義務，非經他方事前書面同意，"
    "不得洩漏予任何第三人，亦不得為本合約目的以外之使用。本保密義務於本合約終止或期滿後三年內仍繼續有效。"
)
ZH_DATA_PROTECTION = (
    "乙方因履行本合約而蒐集、處理或利用甲方員工之個人資料，應依個人資料保護法辦理，採取適當之安全維護措施，"
    "並於發生個人資料外洩事故後二十四小時內通知甲方。"
)


def _en_contract(i: int, party: str) -> str:
    clause = EN_CONFIDENTIALITY
    if i % 3 == 1:  # as copies really differ: re-wrapped lines, typographic apostrophes
        clause = clause.replace(" use it", "\nuse it").replace("party's", "party’s")
    notice = 30 * (i + 1)
    extra = f"## 6. Data protection\n\n{EN_DATA_PROTECTION}\n\n" if i == 0 else ""
    return (
        f"# {party} supply agreement\n\n"
        f"## 1. Scope\n\n{party} Corporation supplies {EN_GOODS[i]} to the Customer as ordered from time to time.\n\n"
        f"## 2. Price and payment\n\nThe Customer pays each {party} invoice within {10 + 5 * i} days of receipt, "
        f"with a late fee of {i + 1}% per month.\n\n"
        f"## 3. Confidentiality\n\n{clause}\n\n"
        f"## 4. Termination\n\nEither party may terminate this Agreement for convenience by giving {notice} days' "
        "written notice to the other party, and at once if the other party becomes insolvent.\n\n"
        f"## 5. Governing law\n\nThis Agreement is governed by the law of {EN_LAWS[i]}.\n\n"
        f"{extra}"
    )


def _zh_contract(i: int, party: str) -> str:
    clause = ZH_CONFIDENTIALITY if i % 2 == 0 else ZH_CONFIDENTIALITY.replace("，", ", ").replace("三年", "３年")
    days = ["三十", "六十", "九十", "一百二十", "一百五十"][i]
    extra = f"## 第六條 個人資料保護\n\n{ZH_DATA_PROTECTION}\n\n" if i == 0 else ""
    return (
        f"# {party}採購合約\n\n"
        f"## 第一條 採購標的\n\n乙方{party}股份有限公司依甲方訂單供應{ZH_GOODS[i]}。\n\n"
        f"## 第二條 價金給付\n\n甲方應於收到{party}發票後{10 + 5 * i}日內付款。\n\n"
        f"## 第三條 保密義務\n\n{clause}\n\n"
        f"## 第四條 契約終止\n\n任一方得於{days}日前以書面通知他方終止本合約；他方聲請破產時，得立即終止。\n\n"
        f"## 第五條 準據法\n\n本合約以中華民國法律為準據法，並以{ZH_COURTS[i]}地方法院為第一審管轄法院。\n\n"
        f"{extra}"
    )


def write_contracts(root: Path) -> Path:
    """The corpus under `root`/contracts; returns `root`."""
    en, zh = root / "contracts" / "en", root / "contracts" / "zh"
    en.mkdir(parents=True)
    zh.mkdir(parents=True)
    for i, party in enumerate(EN_PARTIES):
        (en / f"{party.lower()}-supply-agreement.md").write_text(_en_contract(i, party), encoding="utf-8")
    for i, party in enumerate(ZH_PARTIES):
        (zh / f"{party}採購合約.md").write_text(_zh_contract(i, party), encoding="utf-8")
    return root
