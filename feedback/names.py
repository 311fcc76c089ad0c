"""The fixed vocabularies of the feedback tables, importable without a database library, so that
the command line can show them in its help at once."""

ROLES = ("user", "reviewer", "admin")
SCOPES = ("ask", "feedback", "export", "admin")
"""``admin``: manage the indexed documents (``/api/v1/documents``); only an admin's key may hold it."""
FORMATS = ("jsonl", "csv", "parquet", "chat-jsonl", "preference-jsonl", "qrels")
FEEDBACK_ACTIONS = ("thumb", "thumb_deleted", "comment", "source_mark", "correction", "review")
ACCOUNT_SHARE = 0.1
"""The default cap on one account's share of what a retrain learns (``GROUNDLOOP_LEARNING_ACCOUNT_SHARE``)."""
UNSURE_SHARE = 0.3
"""The default share of least-matched answers the review queue holds as unsure, whatever their thumbs
(``GROUNDLOOP_REVIEW_UNSURE_SHARE``)."""
