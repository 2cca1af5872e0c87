"""Accounts: registration, login, e-mail confirmation, passwords, roles, my data."""
