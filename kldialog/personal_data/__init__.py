"""Cross-feature use cases about one person's data: the export (Art. 15/20) and the erasure."""
