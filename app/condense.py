"""Turn a follow-up ("how long is it?") into a question that stands on its own."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app import prompts

if TYPE_CHECKING:
    from langchain_openai import ChatOpenAI

_REFERS_BACK = re.compile(
    r"\b(it|its|they|them|their|this|that|these|those|he|she|his|her|there|the same)\b|^(and|what about|how about|also)\b",
    re.IGNORECASE,
)


@dataclass
class Condenser:
    """Offline, a question that refers back borrows the previous question's words; with a model, it is rewritten."""

    llm: ChatOpenAI | None = None

    def __call__(self, question: str, history: list[str]) -> str:
        if not history:
            return question
        if self.llm is not None:
            import openai  # loaded with the model

            try:
                conversation = "\n".join(f"- {previous}" for previous in history[-5:])
                prompt = prompts.load("condense").format(history=conversation, question=question)
                rewritten = str(self.llm.invoke(prompt).content).strip()
                if rewritten:
                    return rewritten
            except openai.APIError:  # the model is optional here: fall back to the offline rule
                pass
        if _REFERS_BACK.search(question) or len(question.split()) <= 3:
            return f"{history[-1]} {question}"
        return question
