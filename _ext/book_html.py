"""Small fixes to the HTML pages, so that they load without a single JavaScript error.

- sphinx-thebe adds its inline configuration script twice (a JavaScript ``const`` declared
  twice is a SyntaxError in the browser; the copies differ only in a filename of None
  versus ""): keep one copy of every identical script.
- pydata-sphinx-theme writes an empty colour mode when none is configured, and the page
  then logs an error: default to the light mode (the figures have white backgrounds).
"""
from __future__ import annotations


def _script_key(script) -> tuple:
    attributes = getattr(script, "attributes", {}) or {}
    return (str(getattr(script, "filename", script) or ""), tuple(sorted((k, str(v)) for k, v in attributes.items())))


def tidy_page(app, pagename, templatename, context, doctree) -> None:
    """Drop duplicate scripts and set a colour mode on every HTML page."""
    if not context.get("default_mode"):
        context["default_mode"] = "light"
    scripts = context.get("script_files")
    if scripts:
        seen, unique = set(), []
        for script in scripts:
            key = _script_key(script)
            if key not in seen:
                seen.add(key)
                unique.append(script)
        scripts[:] = unique


def setup(app):
    app.connect("html-page-context", tidy_page, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
