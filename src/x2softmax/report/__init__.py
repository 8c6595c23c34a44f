"""Report notebooks support: declared outputs, result tables, figures, offline HTML and the index page."""
