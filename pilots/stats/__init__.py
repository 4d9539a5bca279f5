"""The statistics engine: pure functions, plain numbers in, frozen dataclasses out.

It imports neither Flask nor the database (DESIGN.md, "Architecture").
"""
