"""Notifications off the terminal: which bus message becomes which notice (`rules`), the day's figures
(`daily`), where the URLs come from and how they are kept out of every text (`urls`), and the sender shell
that hands notices to apprise on a thread of its own (`sender`). The notifier worker connects them to the bus.
"""
