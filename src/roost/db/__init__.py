"""Relational store: table definitions, engines, migrations and the id-node lease."""
