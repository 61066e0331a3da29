"""Privacy protocols the workers run between institutions, each party-per-role over a ``channel.Session``.

- ``psi``: ECDH-PSI on Curve25519 (X25519), streamed and shuffled.
- ``lookup``: unbalanced PSI / anonymous lookup by an OPRF over ristretto255.
- ``stats``: secure count, sum, mean, variance and grouped sums by pairwise-masked additive sharing.
- ``secagg``: secure aggregation for horizontal FedAvg, surviving clients that drop after masking.
- ``vertical_lr``: vertical logistic regression with Paillier-encrypted residuals and masked gradients.

``docs/privacy-protocols.md`` states what each party learns, the message formats and the measured costs.
Nothing here imports the node: the worker runtime gives each protocol an authenticated ``Transport``.
"""
