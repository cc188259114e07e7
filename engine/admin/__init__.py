"""Who may do what and what was done: access, the audit trail, backup and restore."""
