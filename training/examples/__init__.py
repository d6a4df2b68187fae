"""End-to-end examples of ``fit`` on real, downloadable data (kept out of the default build)."""
