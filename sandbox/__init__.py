"""The mosmu sandbox: a local stand-in for a Fuel master and its nodes (see DESIGN.md s. 7)."""
