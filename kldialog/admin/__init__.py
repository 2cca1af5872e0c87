"""Administration: accounts, roles, blocks, the audit log and residency codes."""
