"""Every sentence the answer path says to the asker about its own answer, in English and Traditional Chinese.

One place, so the two languages stay in step and the core's wording can be read (and changed) in one file.
A Chinese question (`rag.language.cjk.is_chinese`) gets the Chinese text; everything else English.
"""

from __future__ import annotations

from rag.language.cjk import is_chinese  # the one rule (rag/language/cjk.py)

# Where each surface lists the indexed documents: the no-answer text points the asker there.
SOURCES_COMMAND = {"slack": "/rag-sources", "cli": "`ragbot sources`"}

zh = is_chinese


def no_answer_text(question: str, surface: str = "slack") -> str:
    where = SOURCES_COMMAND.get(surface, SOURCES_COMMAND["slack"])
    if zh(question):
        return f"已索引的文件中找不到這個問題的答案。可用 {where} 查看機器人知道哪些文件，或換個說法再問一次。"
    return ("I couldn't find this in the indexed documents. "
            f"Try rephrasing, or use {where} to see which documents I know.")


def unmentioned_text(question: str, terms: list[str]) -> str:
    """The reply instead of an answer about something no source mentions (rag/subject_check.unmentioned_subject)."""
    if zh(question):
        return (f"已索引的文件中沒有提到「{'、'.join(terms)}」，所以不根據其他內容作答。"
                "如果文件用的是別的說法，請換個說法再問一次。")
    listed = ", ".join(f"“{t}”" for t in terms)
    return (f"The indexed documents say nothing about {listed}, so I won't answer from passages about something "
            "else. If they use another word for it, try asking with that word.")


def inferred_notice(question: str) -> str:
    """The model wrote facts without [n]: the bot matched them to the sources they came from."""
    if zh(question):
        return "（模型未標註引用來源；下列來源由系統依內容比對補上。）"
    return "The model did not mark its sources: the sources below were matched to the answer's sentences by the bot."


# Why an answer is quoted passages instead of the model's words: the reason a reader can act on or trust.
FALLBACK_REASONS = {
    "unavailable": ("The language model is unavailable right now, so here are the most relevant passages, "
                    "quoted as written.", "語言模型目前無法使用，以下是最相關的文件段落原文。"),
    "budget": ("The language model used its whole answer budget reasoning and wrote no answer, so here are the "
               "most relevant passages, quoted as written.",
               "語言模型把回答額度都用在推理上，沒有寫出回答；以下是最相關的文件段落原文。"),
    "empty": ("The language model wrote no usable answer, so here are the most relevant passages, quoted as "
              "written.", "語言模型沒有寫出可用的回答，以下是最相關的文件段落原文。"),
    "unmatched": ("The language model's answer cites none of the documents and matches none of them, so here are "
                  "the most relevant passages, quoted as written.",
                  "語言模型的回答沒有引用、也對不上任何文件內容，以下是最相關的文件段落原文。"),
    "language": ("The language model answered in another language, so here are the most relevant passages, "
                 "quoted as written.", "語言模型以其他語言回答，以下是最相關的文件段落原文。"),
    "context": ("The sources did not fit the language model's context, so here are the most relevant passages, "
                "quoted as written.", "來源超出語言模型可讀的長度，以下是最相關的文件段落原文。"),
}


def fallback_notice(question: str, kind: str = "unavailable") -> str:
    """A plain sentence for the asker: the technical reason goes to the log and `ragbot doctor`."""
    english, chinese = FALLBACK_REASONS.get(kind, FALLBACK_REASONS["unavailable"])
    return chinese if zh(question) else english


def truncated_notice(question: str) -> str:
    """Said to the asker; the cause (OLLAMA_NUM_CTX, the model's own context) is logged by the generator."""
    if zh(question):
        return "⚠ 來源太長，模型只讀到其中一部分，回答可能不完整。"
    return "⚠ The sources were too long for the model, which read only part of them: the answer may be incomplete."


def loop_notice(question: str) -> str:
    if zh(question):
        return "⚠ 模型的回答開始重複，已在重複處截斷。"
    return "⚠ The model started repeating itself; the answer was cut where the repetition began."


def length_notice(question: str) -> str:
    if zh(question):
        return "⚠ 回答達到長度上限而中斷，可能不完整。"
    return "⚠ The answer reached its length limit (ANSWER_MAX_TOKENS) and may be incomplete."


def figure_notice(question: str, figures: list[str], elsewhere: dict[str, str] | None = None) -> str:
    """Figures no cited source holds; `elsewhere` maps a figure to the uncited document that does hold it."""
    elsewhere = elsewhere or {}
    if zh(question):
        listed = "、".join(f"{f}（出自未引用的《{elsewhere[f]}》）" if f in elsewhere else f for f in figures)
        return f"⚠ 以下數字在引用的文件中找不到：{listed}。請以引用段落為準。"
    listed = ", ".join(f"{f} (from *{elsewhere[f]}*, which that sentence does not cite)" if f in elsewhere else f
                       for f in figures)
    return f"⚠ Not found in the cited sources: {listed}. Check the quoted passages before relying on it."


def near_miss_notice(question: str, asked: str, stated_for: str, title: str, figures: list[str]) -> str:
    """The figure is the documents' figure for something else: say what for, and that nothing covers the ask.

    `stated_for` is the section the figure comes from, or the title of the other document it comes from
    (when the question named a document that states no such figure)."""
    listed = "、".join(figures) if zh(question) else ", ".join(figures)
    other_document = stated_for == title
    if zh(question):
        if other_document:
            return f"⚠ 《{asked}》中沒有這項規定。{listed} 出自另一份文件《{title}》，不適用於你問的文件。"
        return (f"⚠ 文件中沒有關於「{asked}」的規定。{listed} 是《{title}》中「{stated_for}」的規定，"
                "不一定適用於你問的情況。")
    if other_document:
        return (f"⚠ *{asked}* states nothing about this. {listed} is from another document, *{title}*, "
                "and does not apply to the one you asked about.")
    return (f"⚠ The documents state nothing for “{asked}”. {listed} is what *{title}* states for "
            f"“{stated_for}”, which may not apply to what you asked.")
