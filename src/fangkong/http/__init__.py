"""The request kit every domain's ``api.py`` and ``pages.py`` use: a session per request, the
current user and their scope, CSRF, the language, ``render`` and the error answers.

It knows core and no domain; ``fangkong.web`` wires the app and configures what the kit reads
from ``app.state`` (settings, session factory, cipher, templates and navigation).
"""
