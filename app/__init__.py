"""groundloop's application layer: settings, the chat chain, the CLI and the server."""
