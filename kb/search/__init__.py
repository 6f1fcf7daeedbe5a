"""In-memory hybrid search of the knowledge base: dense similarities + BM25, fused, with calibrated bands.

``index.SearchIndex`` holds the articles of one worker; ``calibration.calibrate`` fits the fusion weights,
the confidence model and the answer/suggest thresholds on labelled questions (stored per embedder spec in
``data/kb/thresholds.yml`` by ``Thresholds.save``).
"""

from kb.search.calibration import calibrate
from kb.search.index import Band, Document, Hit, SearchIndex, Thresholds

__all__ = ["Band", "Document", "Hit", "SearchIndex", "Thresholds", "calibrate"]
