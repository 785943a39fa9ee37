"""Dunlin: sync receivables from CRMs/ERPs, remind customers, write the history back."""

__version__ = "0.1.0"
