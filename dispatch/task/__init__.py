"""Tasks: the record of one task (model), its files (plan, questions), what it is now (status, show, watch), and its trash and repairs."""
