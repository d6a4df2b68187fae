"""Sentiment on the Hutto & Gilbert human-rated corpora: data, features, heads, evaluation."""
