"""How shoppers reach each other: the share graph, experiments and campaigns."""
