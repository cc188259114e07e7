"""The only Streamlit-aware helpers: cached getters, shared widgets and chart builders."""
