"""Participation notices: opt-in mail about new rounds and surveys, and a weekly digest."""
