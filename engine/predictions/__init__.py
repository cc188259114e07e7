"""What shoppers will do: churn risk and survival, growth fits, recommendations."""
