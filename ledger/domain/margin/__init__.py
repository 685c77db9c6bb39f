"""Spot margin: the accounts, the rules on their margin level, and their liquidation."""
