"""Discussion on projects: comments, replies, supports and reports."""
