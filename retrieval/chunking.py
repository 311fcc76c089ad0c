"""Split Documents into chunks and give each an id derived from its content."""

import hashlib

from langchain_core.documents import Document
from langchain_text_splitters import MarkdownHeaderTextSplitter, RecursiveCharacterTextSplitter


def split(documents: list[Document], *, chunk_size: int, chunk_overlap: int) -> list[Document]:
    """Chunks keep their document's metadata; ``position`` becomes the chunk's place in it.

    Markdown is cut into its sections first, so that a chunk answers to one heading; then
    everything is split on paragraphs, lines and sentences to fit ``chunk_size``.
    """
    sections = MarkdownHeaderTextSplitter(
        [("#", "h1"), ("##", "h2"), ("###", "h3")], strip_headers=False, return_each_line=False
    )
    prose = RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    chunks, seen_per_doc = [], {}
    for document in documents:
        parts = [document.page_content]
        if document.metadata["source"].endswith((".md", ".markdown")):
            parts = [section.page_content for section in sections.split_text(document.page_content)] or parts
        for text in (piece for part in parts for piece in prose.split_text(part)):
            doc_id = document.metadata["doc_id"]
            position = seen_per_doc[doc_id] = seen_per_doc.get(doc_id, -1) + 1
            chunks.append(Document(text, metadata={**document.metadata, "position": position}))
    return chunks


def chunk_id(chunk: Document) -> str:
    """Same document, same text: same id. Re-ingesting unchanged text therefore adds nothing."""
    key = f"{chunk.metadata['doc_id']}\x00{chunk.page_content}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()
