"""Where the data lives: the warehouse, kept results, CSV export, the global filter."""
