"""The conversation engine: one turn is message → parse → action → replies, channel-agnostic."""
