"""Write a planned round to disk: DAG files, submit descriptions, manifests (design §8)."""
