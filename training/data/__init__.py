"""Data that installed packages ship: sample photos (scikit-image, scikit-learn) and the Hutto &
Gilbert human-rated sentiment corpora (the ``vaderSentiment`` source distribution)."""
