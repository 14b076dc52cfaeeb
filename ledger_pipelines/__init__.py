"""subledger."""
