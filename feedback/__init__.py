"""Feedback storage, review, export and learning from feedback."""
