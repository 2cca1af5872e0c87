"""The council dashboard: aggregated priorities, indicator ratings and survey results."""
