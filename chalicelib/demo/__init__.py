"""Demo data: the users/orders/products tables written identically to Cassandra and PostgreSQL,
with known injected drift.

    python -m chalicelib.demo load --rows 100000 --drift-missing-pg 5 --drift-missing-cass 5 \
        --drift-mismatch 10 --manifest drift.json --seed 7
"""
