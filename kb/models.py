"""Knowledge-base tables (articles, revisions, chunks, gaps)."""
