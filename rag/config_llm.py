"""Settings of the model that writes answers: which API, server, model, and how long it may take.

Apart from the rest of RagSettings (rag/config.py, which extends this class) because they change together and
are checked together: an OpenAI-compatible server needs its base URL and model, Ollama its host.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rag.answering.ollama_params import keep_alive_seconds, parse_think


def check_web_url(value: str, what: str) -> str:
    """An absolute http(s) URL with a host and a valid port, else ValueError saying what is expected."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value.strip())
        port_ok = parts.port is None or parts.port > 0
    except ValueError:  # a port that is not a number or out of range
        parts, port_ok = None, False
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname or not port_ok \
            or any(c.isspace() for c in value.strip()):
        raise ValueError(f"must be an http(s) URL with a host: {what}")
    return value


class LlmSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    ollama_host: str = Field("http://127.0.0.1:11434", alias="OLLAMA_HOST")
    ollama_model: str = Field("llama3.2:3b", alias="OLLAMA_MODEL")
    ollama_timeout_seconds: float = Field(300.0, alias="OLLAMA_TIMEOUT_SECONDS", gt=0)
    ollama_connect_timeout_seconds: float = Field(5.0, alias="OLLAMA_CONNECT_TIMEOUT_SECONDS", gt=0)
    ollama_keep_alive: float = Field(1800, alias="OLLAMA_KEEP_ALIVE")  # seconds, -1 forever (rag/ollama_params)
    ollama_think: bool | str = Field(False, alias="OLLAMA_THINK")  # false, true, low, medium, high, max
    ollama_num_ctx: int = Field(8192, alias="OLLAMA_NUM_CTX", ge=512)
    answer_max_tokens: int = Field(768, alias="ANSWER_MAX_TOKENS", ge=32)
    # Which API generates answers (rag/answering/generation.py): Ollama's own, or any OpenAI-compatible server (vLLM,
    # llama.cpp, LM Studio, TGI) at LLM_BASE_URL serving LLM_MODEL. OLLAMA_TIMEOUT_SECONDS, OLLAMA_CONNECT_TIMEOUT_
    # SECONDS, OLLAMA_NUM_CTX, OLLAMA_THINK and ANSWER_MAX_TOKENS apply to both.
    llm_api: Literal["ollama", "openai"] = Field("ollama", alias="LLM_API")
    llm_base_url: str | None = Field(None, alias="LLM_BASE_URL")
    llm_model: str | None = Field(None, alias="LLM_MODEL")
    llm_api_key: SecretStr | None = Field(None, alias="LLM_API_KEY")


    @field_validator("ollama_keep_alive", mode="before")
    @classmethod
    def _keep_alive(cls, value: object) -> object:
        return keep_alive_seconds(value) if isinstance(value, str | int | float) else value

    @field_validator("ollama_think", mode="before")
    @classmethod
    def _think(cls, value: object) -> object:
        return parse_think(value) if isinstance(value, str | bool) else value

    @field_validator("llm_api", mode="before")
    @classmethod
    def _llm_api(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("llm_base_url", "llm_model", "llm_api_key", mode="before")
    @classmethod
    def _llm_blank(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("llm_base_url")
    @classmethod
    def _llm_base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from urllib.parse import urlparse

        value = value.strip().rstrip("/")
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError("must be the server's API root, e.g. http://127.0.0.1:8000/v1")
        return value

    @model_validator(mode="after")
    def _llm_openai_complete(self) -> LlmSettings:
        if self.llm_api == "openai" and not self.llm_base_url:
            raise ValueError("LLM_BASE_URL is required with LLM_API=openai (e.g. http://127.0.0.1:8000/v1)")
        if self.llm_api == "openai" and not self.llm_model:
            raise ValueError("LLM_MODEL is required with LLM_API=openai (the model name the server serves)")
        return self

    @property
    def llm_model_name(self) -> str:
        """The model that writes answers, whichever API serves it."""
        return (self.llm_model or "") if self.llm_api == "openai" else self.ollama_model

    @property
    def llm_host(self) -> str:
        return (self.llm_base_url or "") if self.llm_api == "openai" else self.ollama_host

    @field_validator("ollama_host")
    @classmethod
    def _host_has_scheme(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value:
            raise ValueError("is blank: set it to the Ollama server, e.g. http://127.0.0.1:11434 (or remove the "
                             "line for that default)")
        if "://" not in value:
            hostport, slash, path = value.partition("/")
            if not hostport.rsplit("]", 1)[-1].count(":"):  # bare host, as OLLAMA_HOST allows: Ollama's port
                hostport += ":11434"
            value = f"http://{hostport}{slash}{path}"
        # a full URL means what it says (a TLS proxy on 443, say)
        check_web_url(value, "the Ollama server, e.g. http://127.0.0.1:11434")
        return value
