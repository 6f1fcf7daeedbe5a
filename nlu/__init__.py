"""Natural-language understanding: embeddings, retrieval, intent classification."""
