"""Alembic's entry point: migrations run on the connection ``feedback.migrate`` hands over."""

from alembic import context

from feedback.models import SQLModel

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=SQLModel.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
