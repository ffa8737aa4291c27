"""The system under test: the services and the two topologies (DESIGN.md §1).

`targets` imports nothing from the other Gatecrash packages; the conductor
reads its topology definitions and deploys them.
"""
