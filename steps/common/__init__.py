"""Helpers shared by every step program: the contract, option parsing, output writing, logging with redaction."""
