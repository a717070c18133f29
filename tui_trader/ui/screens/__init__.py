"""The desk's screens: main (panes), settings, and the dialogs (confirm, live confirm, help)."""
