"""The child side of the process boundary: what runs inside an environment.

Nothing here imports from the rest of pylambda; the parent imports the wire
protocol from here, never the reverse (imports point one way).
"""
