"""What shoppers do: activity, retention, funnels, paths, trends, content, communities, lifecycle."""
