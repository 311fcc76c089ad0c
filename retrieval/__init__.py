"""Loading, chunking, embedding, indexing and ranking documents; BEIR evaluation.

Knows nothing of chat or feedback, and reads no settings: callers pass what it needs.
"""
