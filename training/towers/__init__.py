"""Pretrained towers: EfficientNet-Lite0 (images), all-MiniLM-L6-v2 (text), ConSE between them."""
