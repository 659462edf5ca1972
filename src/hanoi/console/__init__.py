"""The web console: server-rendered pages (Jinja2) under ``/console/`` of ``hanoi serve``.

Pages call the same service functions as the API and the CLI; ``security`` holds the session
cookie, CSRF and headers, ``i18n`` the languages, ``render`` the page frame, ``routes/`` the
pages, ``templates/`` and ``static/`` what the browser gets (every asset from the package).
"""
