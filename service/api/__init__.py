"""The HTTP layer: one router per endpoint family, on top of ``service.inference``."""
