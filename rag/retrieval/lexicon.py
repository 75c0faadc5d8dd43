"""Everyday Chinese and the words contracts and regulations use for the same thing.

A user asks 「我爸過世了可以請幾天假」; the rule says 「父母喪亡者，給予喪假八日」. Full-text search and the
relevance floor match characters, and 過世 shares none with 喪亡: the right rule ranked low and the bot
declined (bench/bench_answers.py, zh-bereavement). An English-only embedding cannot bridge it either.
So a question's everyday terms bring their formal equivalents into the full-text query (rag/retrieval/query.py), and
the coverage the floor reads counts a term as found where an equivalent is (rag/retrieval/relevance.py).

The groups below are written from ordinary usage in Taiwan's labour, insurance, consumer, tenancy and
privacy texts (Traditional, with Simplified forms where they differ), fixed before any benchmark question was
read, and kept small: a group joins words a reader would accept as the same thing in a question about a
contract or a rule, not words that are merely related. Expansion runs one way, everyday to formal (set after
the first full run, see GROUPS). Terms are matched in the normalised text
(rag.language.textnorm); the longest terms are found first, so 終止契約 is one term, not 契約.
"""

from __future__ import annotations

import re
from functools import lru_cache

# (everyday words, the formal words documents use for them). Only the everyday side is expanded: a question that
# already says 勞工 or 雇主 is in the documents' words, and adding their synonyms (員工, 受僱者…), frequent all
# over a labour corpus, only added noise (twlabor: 4 of 45 questions ranked lower when formal words expanded too).
GROUPS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    # people and parties
    (("過世", "去世", "逝世", "往生", "死掉", "过世"), ("死亡", "喪亡", "身故", "丧亡")),
    (("老闆", "老板"), ("雇主", "僱主")),
    (("員工",), ("勞工", "受僱者", "受雇者", "受僱人")),
    (("爸爸", "老爸"), ("父親",)),
    (("媽媽", "老媽"), ("母親",)),
    (("老婆", "太太"), ("配偶", "妻子")),
    (("老公",), ("配偶", "丈夫")),
    (("小孩", "孩子"), ("子女",)),
    (("房東",), ("出租人",)),
    (("房客",), ("承租人",)),
    (("外勞", "移工"), ("外國人",)),
    # work and leave
    (("薪水", "月薪", "薪资"), ("工資", "薪資", "工资")),
    (("加班",), ("延長工作時間", "延長工時")),
    (("辭職",), ("離職", "自請離職", "終止契約")),
    (("開除", "炒魷魚"), ("解僱", "解雇", "資遣")),
    (("放假",), ("休假", "請假")),
    (("生小孩",), ("分娩", "產假")),
    (("懷孕",), ("妊娠",)),
    (("結婚",), ("婚假",)),
    (("生病",), ("疾病", "患病")),
    (("看醫生",), ("就醫", "就診")),
    (("受傷",), ("傷害", "職業災害")),
    (("職災",), ("職業災害",)),
    (("勞保",), ("勞工保險",)),
    (("健保",), ("全民健康保險",)),
    # money and obligations
    (("保費", "保费"), ("保險費", "保险费")),
    (("理賠",), ("保險金", "賠付")),
    (("退保",), ("終止保險契約", "終止契約", "解約")),
    (("罰款",), ("罰鍰", "罰金")),
    (("退錢",), ("退費", "退還", "返還")),
    (("押金",), ("保證金", "擔保金")),
    (("房租",), ("租金",)),
    (("欠錢",), ("欠款", "欠費", "債務")),
    (("賠錢",), ("賠償", "損害賠償")),
    # things and acts
    (("撿到", "撿了"), ("拾得", "拾獲")),
    (("弄丟", "丟了"), ("遺失",)),
    (("個資",), ("個人資料",)),
)


@lru_cache(maxsize=1)
def _index() -> tuple[dict[str, tuple[str, ...]], re.Pattern[str]]:
    equivalents: dict[str, set[str]] = {}
    for everyday, formal in GROUPS:
        for term in everyday:
            equivalents.setdefault(term, set()).update(formal)
    terms = sorted(equivalents, key=len, reverse=True)
    return ({t: tuple(sorted(e)) for t, e in equivalents.items()},
            re.compile("|".join(re.escape(t) for t in terms)))


def equivalent_terms(text: str) -> list[tuple[str, tuple[str, ...]]]:
    """The everyday terms in `text` (longest first, not overlapping), each with its formal equivalents."""
    equivalents, pattern = _index()
    return [(m.group(0), equivalents[m.group(0)]) for m in pattern.finditer(text)]


def term_spans(text: str) -> list[tuple[int, int, tuple[str, ...]]]:
    """(start, end, formal equivalents) of each everyday term in `text`."""
    equivalents, pattern = _index()
    return [(m.start(), m.end(), equivalents[m.group(0)]) for m in pattern.finditer(text)]
