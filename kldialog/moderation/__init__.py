"""Moderation: the queue, decisions with reasons, appeals, keywords and the public report."""
