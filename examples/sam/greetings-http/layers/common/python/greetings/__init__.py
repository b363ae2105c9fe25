"""Shared greeting formats (deployed as a Lambda layer: python/greetings on sys.path via /opt)."""

GREETINGS = {"en": "Hello, {}!", "fr": "Bonjour, {} !", "es": "¡Hola, {}!"}


def greet(name, language="en"):
    """A greeting for ``name`` in ``language``; ValueError for a language we do not speak."""
    if language not in GREETINGS:
        raise ValueError(f"unknown language {language!r}")
    return GREETINGS[language].format(name)
