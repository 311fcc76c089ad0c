"""Split Documents into chunks and give each an id derived from its content."""

import hashlib

from langchain_core.documents import Document
from langchain_text_splitters import Language, RecursiveCharacterTextSplitter


def split(documents: list[Document], *, chunk_size: int, chunk_overlap: int) -> list[Document]:
    """Chunks keep their document's metadata; ``position`` becomes the chunk's place in it.

    Markdown is split on headings first, everything else on paragraphs, lines and sentences.
    """
    markdown = RecursiveCharacterTextSplitter.from_language(
        Language.MARKDOWN, chunk_size=chunk_size, chunk_overlap=chunk_overlap
    )
    prose = RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    chunks, seen_per_doc = [], {}
    for document in documents:
        splitter = markdown if document.metadata["source"].endswith((".md", ".markdown")) else prose
        for text in splitter.split_text(document.page_content):
            doc_id = document.metadata["doc_id"]
            position = seen_per_doc[doc_id] = seen_per_doc.get(doc_id, -1) + 1
            chunks.append(Document(text, metadata={**document.metadata, "position": position}))
    return chunks


def chunk_id(chunk: Document) -> str:
    """Same document, same text: same id. Re-ingesting unchanged text therefore adds nothing."""
    key = f"{chunk.metadata['doc_id']}\x00{chunk.page_content}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()
