"""Bounds on how many LLM tokens a text takes, without the model's tokenizer.

The prompt is fitted to `num_ctx` with the upper bound, so Ollama never has to
truncate it; the lower bound tells when Ollama's `prompt_eval_count` is too low
for the prompt we sent, i.e. Ollama dropped or cut part of it. Both follow how
BPE tokenizers pre-split text (Llama 3, Qwen, GPT-4o/gpt-oss): a word or a digit
group is at least one token, punctuation and symbols at most one each, a CJK
character about one. The constants were measured against the Llama 3, Qwen3 and
o200k tokenizers on English and Traditional Chinese corpora
(bench/results/token_bounds.txt, bench/bench_token_bounds.py).
"""

from __future__ import annotations

import math
import re

from rag.language.cjk import CJK_RE

_PIECES = re.compile(
    r"(?P<cjk>" + CJK_RE.pattern + r"+)"
    r"|(?P<ascii>[A-Za-z]+)"
    r"|(?P<digits>\d+)"
    r"|(?P<newlines>\s*\n\s*)"
    r"|(?P<space>\s+)"
    r"|(?P<other>[^\sA-Za-z\d])"
)
CJK_UPPER = 1.4  # tokens per CJK character, at most (rare Traditional characters take 2-3 byte tokens)
CJK_LOWER = 0.6  # tokens per CJK character, at least (Qwen merges common 2-3 character words)
ASCII_CHARS_PER_TOKEN = 3  # a run of n ASCII letters is at most ceil(n / 3) tokens


def token_bounds(text: str) -> tuple[int, int]:
    """(at least, at most) tokens this text takes in a current BPE tokenizer."""
    low = high = 0.0
    for match in _PIECES.finditer(text):
        kind, piece = match.lastgroup, match.group()
        if kind == "cjk":
            low += len(piece) * CJK_LOWER
            high += len(piece) * CJK_UPPER
        elif kind == "ascii":
            low += 1
            high += math.ceil(len(piece) / ASCII_CHARS_PER_TOKEN)
        elif kind == "digits":
            low += math.ceil(len(piece) / 3)  # digit groups of up to three (Llama 3, o200k)
            high += len(piece)  # one per digit (Qwen)
        elif kind == "newlines":
            high += 1
        elif kind == "space":
            high += 0 if piece == " " else 1
        else:  # punctuation, symbols, letters of other scripts: at most one token each, or a few bytes
            high += 1 if piece.isascii() else 2
    return math.floor(low), math.ceil(high)


def max_tokens(text: str) -> int:
    """At most this many tokens: what the prompt is fitted with."""
    return token_bounds(text)[1]


def min_tokens(text: str) -> int:
    """At least this many tokens: a prompt_eval_count below it means Ollama did not see all of the text."""
    return token_bounds(text)[0]
