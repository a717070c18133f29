"""The desk: the Textual app. Only this package imports Textual."""
